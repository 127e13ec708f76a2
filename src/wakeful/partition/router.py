"""The one door through which the ingress, the admin API and the invoker reach a leader.

Every event belongs to the partition that owns its invocation (a partition key derived from
the object/workflow key, or from the invocation id for keyless services). Today one process
leads the single partition, so routing picks that leader; with several partitions the router
picks by partition key, and with remote leaders (PostgreSQL scale-out) it forwards to the
process holding the partition's lease. Callers never see a leader's cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from wakeful.engine.events import Attach, Event, Invoke
from wakeful.journal.ids import InvocationId
from wakeful.partition.leader import Finished, Outcome, PartitionLeader

__all__ = ["Router"]


class Router:
    """Sends each event to the leader of the partition that owns it."""

    def __init__(self, leaders: Sequence[PartitionLeader]) -> None:
        if len(leaders) != 1:
            raise ValueError("one partition per process is supported for now")
        self._leaders = tuple(leaders)

    def _leader(self, invocation_id: InvocationId | None) -> PartitionLeader:
        """The leader owning `invocation_id` (every id maps to partition 0 for now)."""
        return self._leaders[0]

    @property
    def leaders(self) -> tuple[PartitionLeader, ...]:
        """The leaders this router sends to."""
        return self._leaders

    def post(self, event: Event) -> None:
        """Enqueue an event; nobody waits for its outcome."""
        self._leader(getattr(event, "invocation_id", None)).post(event)

    async def submit(self, event: Event) -> Outcome:
        """Apply an event; its outcome once its changes are durable."""
        return await self._leader(getattr(event, "invocation_id", None)).submit(event)

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
