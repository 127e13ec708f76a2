"""Start a new attempt for every invocation that was running when the process stopped."""

from __future__ import annotations

import asyncio
import logging

from wakeful.clock import Clock
from wakeful.engine.events import RecoverInvocation
from wakeful.errors import EngineUnavailableError
from wakeful.journal.ids import InvocationId
from wakeful.partition.leader import PartitionLeader
from wakeful.storage.api import Store

__all__ = ["recover"]

log = logging.getLogger(__name__)

BATCH = 1000
RETRY_AFTER_MS = 500


async def recover(store: Store, leader: PartitionLeader, clock: Clock) -> int:
    """Recover running invocations; suspended ones stay on disk until a notification arrives.

    An invocation whose recovery could not be stored is retried (alone: recovering one twice
    would start two attempts). Returns how many were recovered.
    """
    after = None
    recovered = 0
    while True:
        ids = await store.running_invocations(leader.partition, after, BATCH)
        if not ids:
            break
        await _recover_all(ids, leader, clock)
        recovered += len(ids)
        after = ids[-1]
    if recovered:
        log.info("recovered %d running invocations", recovered)
    return recovered


async def _recover_all(ids: list[InvocationId], leader: PartitionLeader, clock: Clock) -> None:
    while ids:
        now = clock.now_ms()
        answers = await asyncio.gather(
            *(leader.submit(RecoverInvocation(i, now)) for i in ids), return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, EngineUnavailableError):
                raise answer
        ids = [i for i, answer in zip(ids, answers, strict=True) if isinstance(answer, Exception)]
        if ids:
            log.warning("recovery of %d invocations could not be stored; retrying", len(ids))
            await clock.sleep_until(clock.now_ms() + RETRY_AFTER_MS)
