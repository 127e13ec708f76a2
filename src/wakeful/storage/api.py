"""The narrow storage interface every backend implements, and the batch it commits."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from wakeful.engine.model import (
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseKey,
    PromiseRecord,
    Timer,
)
from wakeful.engine.waits import WaitRow
from wakeful.journal.entries import Entry, Result
from wakeful.journal.ids import InvocationId

__all__ = ["Batch", "InvocationRow", "Store", "WaitDeadline", "WaitQuery"]


WaitDeadline = tuple[InvocationId, tuple[int, ...], tuple[int, ...], int | None]
"""(invocation, signal indexes, completion ids it suspends on, deadline) for `set_deadline`."""


@dataclass(slots=True)
class Batch:
    """All state changes of one group commit; written in one transaction."""

    invocations: dict[InvocationId, Invocation] = field(default_factory=dict)
    deleted: set[InvocationId] = field(default_factory=set)
    journal: list[tuple[InvocationId, int, Entry]] = field(default_factory=list)
    timers_added: list[Timer] = field(default_factory=list)
    timers_removed: list[Timer] = field(default_factory=list)
    objects: dict[ObjectKey, ObjectRecord] = field(default_factory=dict)
    inbox_pushed: list[tuple[ObjectKey, int, InvocationId]] = field(default_factory=list)
    inbox_removed: list[tuple[ObjectKey, int]] = field(default_factory=list)
    state_cleared: set[ObjectKey] = field(default_factory=set)  # applied before state_set
    state_set: dict[tuple[ObjectKey, str], bytes | None] = field(default_factory=dict)
    promises_cleared: set[ObjectKey] = field(default_factory=set)  # applied before promises
    promises: dict[PromiseKey, PromiseRecord] = field(default_factory=dict)
    # The index of pending waits (rows of deleted invocations go with them), applied in this
    # order: new rows, completions, closings, deadlines.
    waits: dict[str, WaitRow] = field(default_factory=dict)
    waits_completed: dict[str, tuple[int, Result]] = field(default_factory=dict)
    waits_closed: set[InvocationId] = field(default_factory=set)
    wait_deadlines: list[WaitDeadline] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.invocations
            or self.deleted
            or self.journal
            or self.timers_added
            or self.timers_removed
            or self.objects
            or self.inbox_pushed
            or self.inbox_removed
            or self.state_cleared
            or self.state_set
            or self.promises_cleared
            or self.promises
            or self.waits
            or self.waits_completed
            or self.waits_closed
            or self.wait_deadlines
        )


@dataclass(frozen=True, slots=True)
class WaitQuery:
    """Which wait rows to list: of one kind and status, optionally one service; newest first,
    `limit` of them, older than the cursor (created at, id) of the previous page's last row."""

    kind: int
    status: int | None = 0  # None: any status
    service: str | None = None
    invocation_id: InvocationId | None = None
    limit: int = 100
    before: tuple[int, str] | None = None


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

    async def next_expiry_ms(self) -> int | None:
        """When the first completed invocation's retention ends, or None."""

    async def expired_invocations(self, now_ms: int, limit: int) -> list[InvocationId]:
        """Completed invocations whose retention ended at or before `now_ms`."""

    async def load_objects(self, keys: Collection[ObjectKey]) -> dict[ObjectKey, ObjectRecord]:
        """The lock records of those of `keys` that exist."""

    async def load_inbox_heads(
        self, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, tuple[int, InvocationId] | None]:
        """For each key, its first queued invocation (seq, id), or None if its inbox is empty."""

    async def load_promises(self, keys: Collection[PromiseKey]) -> dict[PromiseKey, PromiseRecord]:
        """The durable promises among `keys` that exist."""

    async def load_state(self, key: ObjectKey) -> dict[str, bytes]:
        """All state values of a virtual object or workflow key."""

    async def list_invocations(self, status: int | None, limit: int) -> list[InvocationRow]:
        """Invocations for the admin API (up to `limit`), optionally of one status."""

    async def load_wait(self, wait_id: str) -> WaitRow | None:
        """One awakeable's or promise's wait row."""

    async def list_waits(self, query: WaitQuery) -> list[WaitRow]:
        """Wait rows newest first, filtered and paged by `query` (an index range scan)."""
