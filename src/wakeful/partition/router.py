"""The one door through which the ingress, the admin API and the invoker reach a leader.

Every event belongs to the partition that owns its invocation: its id's partition key (the
hash of the object/workflow key, random for keyless services), and the u64 key space is cut
into equal ranges, one per partition, as Restate does. Today one process leads the single
partition; with several, each leader needs a partition-scoped store, and with remote leaders
(PostgreSQL scale-out) the router forwards to the process holding the partition's lease.
Callers never see a leader's cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from wakeful.engine.events import (
    Attach,
    CompletePromise,
    Event,
    Invoke,
    PurgeExpired,
    StartInboxed,
    TimerFired,
)
from wakeful.journal.ids import InvocationId, partition_key_for
from wakeful.partition.leader import Finished, Outcome, PartitionLeader

__all__ = ["Router", "partition_key_of", "partition_of"]


def partition_of(partition_key: int, partitions: int) -> int:
    """The partition owning a u64 partition key: the key space cut into equal ranges."""
    return (partition_key * partitions) >> 64


def partition_key_of(event: Event) -> int:
    """The partition key of the invocation (or object key) an event is about."""
    match event:
        case StartInboxed(key=key) | CompletePromise(key=key):  # a workflow's promises
            return partition_key_for(key)
        case TimerFired(timer=timer):
            return timer.invocation_id.partition_key
        case PurgeExpired(invocation_ids=ids):  # a partition's purge loop: ids of its own
            return ids[0].partition_key if ids else 0
        case _:
            return event.invocation_id.partition_key


class Router:
    """Sends each event to the leader of the partition that owns it."""

    def __init__(self, leaders: Sequence[PartitionLeader]) -> None:
        if not leaders:
            raise ValueError("a router needs at least one partition leader")
        self._leaders = tuple(leaders)
        # One partition (the embedded case): no key to compute on the hot path.
        self._only = self._leaders[0] if len(self._leaders) == 1 else None

    def _leader(self, invocation_id: InvocationId) -> PartitionLeader:
        """The leader of the partition owning `invocation_id`."""
        if self._only is not None:
            return self._only
        return self._leaders[partition_of(invocation_id.partition_key, len(self._leaders))]

    def _leader_of(self, event: Event) -> PartitionLeader:
        if self._only is not None:
            return self._only
        return self._leaders[partition_of(partition_key_of(event), len(self._leaders))]

    @property
    def leaders(self) -> tuple[PartitionLeader, ...]:
        """The leaders this router sends to."""
        return self._leaders

    def post(self, event: Event) -> None:
        """Enqueue an event; nobody waits for its outcome."""
        self._leader_of(event).post(event)

    async def submit(self, event: Event) -> Outcome:
        """Apply an event; its outcome once its changes are durable."""
        return await self._leader_of(event).submit(event)

    async def submit_and_attach(
        self, event: Invoke | Attach
    ) -> tuple[Outcome, asyncio.Future[Finished] | None]:
        """Like submit; when the invocation is not completed yet, also a future of its result."""
        return await self._leader(event.invocation_id).submit_and_attach(event)

    def waiter_if_in_memory(self, invocation_id: InvocationId) -> asyncio.Future[Finished] | None:
        """A future of the result of a running invocation, without a round through the queue;
        None when the owning leader does not hold it in memory."""
        return self._leader(invocation_id).waiter_if_in_memory(invocation_id)

    def forget_waiter(self, invocation_id: InvocationId, future: asyncio.Future[Finished]) -> None:
        """Drop a waiter whose client went away."""
        self._leader(invocation_id).forget_waiter(invocation_id, future)
