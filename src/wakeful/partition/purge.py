"""Purge completed invocations when their retention ends."""

from __future__ import annotations

import asyncio

from wakeful.clock import Clock
from wakeful.engine.events import PurgeExpired
from wakeful.partition.leader import PartitionLeader
from wakeful.storage.api import Store

__all__ = ["PurgeLoop"]

BATCH = 1000


class PurgeLoop:
    """The next expiry is kept in memory, the expiry times on disk; a completion with an
    earlier expiry wakes the loop, which otherwise sleeps at most `interval_ms`."""

    def __init__(
        self, store: Store, leader: PartitionLeader, clock: Clock, interval_ms: int
    ) -> None:
        self.store = store
        self.leader = leader
        self.clock = clock
        self.interval_ms = interval_ms
        self._wake = asyncio.Event()
        self._next_ms: int | None = None

    def finished(self, expires_at_ms: int) -> None:
        """An invocation expiring at `expires_at_ms` was committed."""
        if self._next_ms is None or expires_at_ms < self._next_ms:
            self._next_ms = expires_at_ms
            self._wake.set()

    async def run(self) -> None:
        """Loop forever (cancel to stop)."""
        while True:
            now = self.clock.now_ms()
            expired = await self.store.expired_invocations(self.leader.partition, now, BATCH)
            if expired:
                await self.leader.submit(PurgeExpired(expired, now))
                continue
            self._wake.clear()
            self._next_ms = await self.store.next_expiry_ms(self.leader.partition)
            due = now + self.interval_ms
            if self._next_ms is not None:
                due = min(due, self._next_ms)
            await self.clock.sleep_until(due, self._wake)
