"""The narrow storage interface every backend implements, and the batch it commits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from wakeful.engine.model import Invocation, Timer
from wakeful.journal.entries import Entry
from wakeful.journal.ids import InvocationId

__all__ = ["Batch", "InvocationRow", "Store"]


@dataclass(slots=True)
class Batch:
    """All state changes of one group commit; written in one transaction."""

    invocations: dict[InvocationId, Invocation] = field(default_factory=dict)
    deleted: set[InvocationId] = field(default_factory=set)
    journal: list[tuple[InvocationId, int, Entry]] = field(default_factory=list)
    timers_added: list[Timer] = field(default_factory=list)
    timers_removed: list[Timer] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.invocations
            or self.deleted
            or self.journal
            or self.timers_added
            or self.timers_removed
        )


@dataclass(frozen=True, slots=True)
class InvocationRow:
    """An invocation with its id, as listed by the admin API."""

    invocation_id: InvocationId
    invocation: Invocation


class Store(Protocol):
    """Durable state of the partitions. Each method is one transaction."""

    async def open(self) -> None:
        """Create or migrate the schema; make the store usable."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def load_invocations(
        self, ids: Collection[InvocationId]
    ) -> dict[InvocationId, Invocation]:
        """The records of those of `ids` that exist."""

    async def load_journal(self, invocation_id: InvocationId) -> list[Entry]:
        """The whole journal of an invocation, in order (empty if unknown)."""

    async def commit(self, batch: Batch) -> None:
        """Write a batch atomically and durably; returns once it would survive a crash."""

    async def running_invocations(
        self, after: InvocationId | None, limit: int
    ) -> list[InvocationId]:
        """Ids of invocations with status running, in id order, after `after` (for recovery)."""

    async def due_timers(self, now_ms: int, limit: int) -> list[Timer]:
        """Timers due at or before `now_ms`, earliest first."""

    async def next_timer_due_ms(self) -> int | None:
        """The due time of the earliest timer, or None."""

    async def expired_invocations(self, now_ms: int, limit: int) -> list[InvocationId]:
        """Completed invocations whose retention ended at or before `now_ms`."""

    async def list_invocations(self, status: int | None, limit: int) -> list[InvocationRow]:
        """Invocations for the admin API (up to `limit`), optionally of one status."""
