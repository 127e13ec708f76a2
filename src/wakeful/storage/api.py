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
from wakeful.errors import WakefulError
from wakeful.journal.entries import Entry, Result
from wakeful.journal.ids import InvocationId

__all__ = [
    "SINGLE_PARTITION",
    "Batch",
    "ClusterStore",
    "FencedError",
    "InvocationRow",
    "PartitionLease",
    "ProcessRow",
    "SchemaVersionError",
    "Store",
    "WaitDeadline",
    "WaitQuery",
]

WaitDeadline = tuple[InvocationId, tuple[int, ...], tuple[int, ...], int | None]
"""(invocation, signal indexes, completion ids it suspends on, deadline) for `set_deadline`."""

SINGLE_PARTITION = 0
"""The partition of a one-process engine, which leads all of its keys."""


class FencedError(WakefulError):
    """A commit by a leader whose epoch is no longer the partition's: another leader took over.

    Nothing of the batch was written; the deposed leader must stop writing for that partition.
    """

    def __init__(self, partition: int, epoch: int, current: int | None) -> None:
        super().__init__(
            f"partition {partition}: commit with epoch {epoch} refused, "
            f"the partition's epoch is {current} (another leader took over)"
        )
        self.partition = partition
        self.epoch = epoch
        self.current = current


class SchemaVersionError(WakefulError):
    """The database was written by a newer wakeful whose schema this release does not know."""


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
    """Durable state of the partitions. Each method is one transaction.

    Reads and scans take the partition whose leader asks; `commit` writes a batch for one
    partition and is fenced: it succeeds only with the epoch `lead` returned last for that
    partition, so a leader that was deposed (another called `lead`) can never write again.
    """

    async def open(self) -> None:
        """Create or migrate the schema; make the store usable."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def lead(self, partition: int) -> int:
        """Become the partition's leader: increment its epoch and return the new one."""

    async def commit(self, partition: int, epoch: int, batch: Batch) -> None:
        """Write a batch atomically and durably; returns once it would survive a crash.

        Raises `FencedError` (and writes nothing) unless `epoch` is the partition's epoch.
        """

    async def load_invocations(
        self, partition: int, ids: Collection[InvocationId]
    ) -> dict[InvocationId, Invocation]:
        """The records of those of `ids` that exist."""

    async def load_journal(self, partition: int, invocation_id: InvocationId) -> list[Entry]:
        """The whole journal of an invocation, in order (empty if unknown)."""

    async def running_invocations(
        self, partition: int, after: InvocationId | None, limit: int
    ) -> list[InvocationId]:
        """Ids of the partition's running invocations, in id order, after `after` (recovery)."""

    async def due_timers(self, partition: int, now_ms: int, limit: int) -> list[Timer]:
        """The partition's timers due at or before `now_ms`, earliest first."""

    async def next_timer_due_ms(self, partition: int) -> int | None:
        """The due time of the partition's earliest timer, or None."""

    async def next_expiry_ms(self, partition: int) -> int | None:
        """When the partition's first completed invocation's retention ends, or None."""

    async def expired_invocations(
        self, partition: int, now_ms: int, limit: int
    ) -> list[InvocationId]:
        """The partition's completed invocations whose retention ended at or before `now_ms`."""

    async def load_objects(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, ObjectRecord]:
        """The lock records of those of `keys` that exist."""

    async def load_inbox_heads(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, tuple[int, InvocationId] | None]:
        """For each key, its first queued invocation (seq, id), or None if its inbox is empty."""

    async def load_promises(
        self, partition: int, keys: Collection[PromiseKey]
    ) -> dict[PromiseKey, PromiseRecord]:
        """The durable promises among `keys` that exist."""

    async def load_state(self, partition: int, key: ObjectKey) -> dict[str, bytes]:
        """All state values of a virtual object or workflow key."""

    async def list_invocations(self, status: int | None, limit: int) -> list[InvocationRow]:
        """Invocations of every partition for the admin API (up to `limit`), optionally of one
        status."""

    async def load_wait(self, wait_id: str) -> WaitRow | None:
        """One awakeable's or promise's wait row."""

    async def list_waits(self, query: WaitQuery) -> list[WaitRow]:
        """Wait rows newest first, filtered and paged by `query` (an index range scan)."""


@dataclass(frozen=True, slots=True)
class PartitionLease:
    """Who leads a partition, under which epoch, and for how much longer (by the database's
    clock; negative once expired)."""

    partition: int
    epoch: int
    owner: str | None
    remaining_ms: int | None
    ingress_url: str | None  # the owner's, if it is a known process
    admin_url: str | None


@dataclass(frozen=True, slots=True)
class ProcessRow:
    """A process of a cluster, as it registered itself."""

    id: str
    ingress_url: str
    admin_url: str
    started_ms: int
    heartbeat_age_ms: int  # since its last heartbeat, by the database's clock


class ClusterStore(Store, Protocol):
    """A store several processes share: partition leases with expiry, and process membership.

    Times are the database's, so the processes' clocks need not agree.
    """

    async def acquire_lease(self, partition: int, owner: str, ttl_ms: int) -> int | None:
        """Take the partition if nobody holds an unexpired lease on it: the new epoch, else None."""

    async def renew_lease(self, partition: int, owner: str, epoch: int, ttl_ms: int) -> bool:
        """Extend a lease still held under `epoch`; False once another process took it."""

    async def release_lease(self, partition: int, owner: str, epoch: int) -> None:
        """Give a lease up at once (a clean shutdown), so another process need not wait."""

    async def leases(self) -> list[PartitionLease]:
        """Every partition's lease, by partition."""

    async def heartbeat(self, process: ProcessRow) -> None:
        """Register the process or refresh its heartbeat."""

    async def forget_process(self, process_id: str) -> None:
        """Remove a process from the membership (a clean shutdown)."""

    async def processes(self) -> list[ProcessRow]:
        """Every registered process, most recently alive first."""
