"""Start a new attempt for every invocation that was running when the process stopped."""

from __future__ import annotations

import asyncio
import logging

from wakeful.clock import Clock
from wakeful.engine.events import RecoverInvocation
from wakeful.partition.leader import PartitionLeader
from wakeful.storage.api import Store

__all__ = ["recover"]

log = logging.getLogger(__name__)

BATCH = 1000


async def recover(store: Store, leader: PartitionLeader, clock: Clock) -> int:
    """Recover running invocations; suspended ones stay on disk until a notification arrives.

    Returns how many were recovered.
    """
    after = None
    recovered = 0
    while True:
        ids = await store.running_invocations(leader.partition, after, BATCH)
        if not ids:
            break
        now = clock.now_ms()
        await asyncio.gather(*(leader.submit(RecoverInvocation(i, now)) for i in ids))
        recovered += len(ids)
        after = ids[-1]
    if recovered:
        log.info("recovered %d running invocations", recovered)
    return recovered
