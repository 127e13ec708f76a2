"""Fire due timers: the earliest due time is kept in memory, the timers themselves on disk."""

from __future__ import annotations

import asyncio

from wakeful.clock import Clock
from wakeful.engine.events import TimerFired
from wakeful.partition.leader import PartitionLeader
from wakeful.storage.api import Store

__all__ = ["TimerLoop"]

BATCH = 512


class TimerLoop:
    """Submits a `TimerFired` for each timer whose due time has come."""

    def __init__(self, store: Store, leader: PartitionLeader, clock: Clock) -> None:
        self.store = store
        self.leader = leader
        self.clock = clock
        self._wake = asyncio.Event()
        self._next_ms: int | None = None

    def scheduled(self, due_ms: int) -> None:
        """A timer due at `due_ms` was committed: wake the loop if it is the earliest."""
        if self._next_ms is None or due_ms < self._next_ms:
            self._next_ms = due_ms
            self._wake.set()

    async def run(self) -> None:
        """Loop forever (cancel to stop)."""
        self._next_ms = await self.store.next_timer_due_ms(self.leader.partition)
        while True:
            self._wake.clear()
            due = self._next_ms
            if due is None:
                await self._wake.wait()
                continue
            now = self.clock.now_ms()
            if due > now:
                await self.clock.sleep_until(due, self._wake)
                continue
            timers = await self.store.due_timers(self.leader.partition, now, BATCH)
            await asyncio.gather(*(self.leader.submit(TimerFired(t, now)) for t in timers))
            self._next_ms = await self.store.next_timer_due_ms(self.leader.partition)
