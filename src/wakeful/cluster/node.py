"""One process's membership in a cluster: heartbeats, and the partition's lease when it can."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from wakeful.storage.api import SINGLE_PARTITION, ClusterStore, PartitionLease, ProcessRow

__all__ = ["ClusterNode", "ClusterSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """How long a lease lasts without renewal, and how often it is renewed.

    A dead leader's partition is taken over between `lease_ttl` and `lease_ttl` +
    `renew_interval` after its last renewal, plus the new leader's start.
    """

    lease_ttl: timedelta = timedelta(seconds=3)
    renew_interval: timedelta = timedelta(milliseconds=500)


OnLead = Callable[[int, int], Awaitable[None]]  # (partition, epoch)
OnLose = Callable[[int, str], Awaitable[None]]  # (partition, why)


class ClusterNode:
    """Keeps this process registered and, while it can, the leader of the partition."""

    def __init__(
        self,
        store: ClusterStore,
        me: ProcessRow,
        settings: ClusterSettings,
        on_lead: OnLead,
        on_lose: OnLose,
    ) -> None:
        self.store = store
        self.me = me
        self.settings = settings
        self._on_lead = on_lead
        self._on_lose = on_lose
        self.partition = SINGLE_PARTITION
        self.epoch: int | None = None  # set while this process holds the lease
        self.lease: PartitionLease | None = None  # the partition's lease as last read
        self._renew_sent_at = 0.0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ttl_ms(self) -> int:
        """The lease's duration in milliseconds."""
        return int(self.settings.lease_ttl.total_seconds() * 1000)

    async def start(self) -> None:
        """Register and start competing for the lease."""
        await self._act(await self._tick())
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="wakeful-cluster")

    async def stop(self) -> None:
        """Step down, give the lease up and leave the membership, so others take over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        epoch = self.epoch
        if epoch is not None:
            await self._step_down("shutting down")
            with contextlib.suppress(Exception):  # the lease then expires on its own
                await self.store.release_lease(self.partition, self.me.id, epoch)
        with contextlib.suppress(Exception):
            await self.store.forget_process(self.me.id)

    def leader(self) -> PartitionLease | None:
        """The partition's live leader as last read, if any other process or this one holds it."""
        lease = self.lease
        if lease is None or lease.owner is None or (lease.remaining_ms or 0) <= 0:
            return None
        return lease

    async def changed(self, at_most: float) -> None:
        """Wait until the next read of the lease (or `at_most` seconds)."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), at_most)

    async def _loop(self) -> None:
        interval = self.settings.renew_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                # Bounded: a database cut off without a reset would leave the call hanging, and
                # the lease must still be given up in time.
                change = await asyncio.wait_for(
                    self._tick(), self.settings.lease_ttl.total_seconds()
                )
            except Exception as e:  # the database is unreachable: keep trying; it may lapse
                log.warning("cluster heartbeat failed: %r", e)
            else:
                await self._act(change)
            if self.epoch is not None and self._lapsed():
                await self._step_down("the lease could not be renewed in time")

    def _lapsed(self) -> bool:
        """True once the lease may have expired: no renewal sent in the last `lease_ttl`
        succeeded (a paused or cut-off process must assume another one took over)."""
        return time.monotonic() - self._renew_sent_at > self.settings.lease_ttl.total_seconds()

    async def _tick(self) -> int | str | None:
        """Heartbeat, renew or acquire, read the lease: the epoch just acquired, why the lease
        was lost, or None. (Only database calls: the caller bounds how long they take.)"""
        change: int | str | None = None
        await self.store.heartbeat(self.me)
        sent_at = time.monotonic()
        if self.epoch is not None:
            if await self.store.renew_lease(self.partition, self.me.id, self.epoch, self.ttl_ms):
                self._renew_sent_at = sent_at  # same epoch: nobody took over meanwhile
            else:
                change = "another process took the partition over"
        else:
            epoch = await self.store.acquire_lease(self.partition, self.me.id, self.ttl_ms)
            if epoch is not None:
                self._renew_sent_at, change = sent_at, epoch
        leases = await self.store.leases()
        self.lease = next((lease for lease in leases if lease.partition == self.partition), None)
        self._changed.set()
        return change

    async def _act(self, change: int | str | None) -> None:
        if isinstance(change, str):
            await self._step_down(change)
        elif change is not None:
            self.epoch = change
            log.info("leading partition %d (epoch %d)", self.partition, change)
            try:
                await self._on_lead(self.partition, change)
            except Exception:
                log.exception("could not start leading partition %d", self.partition)
                self.epoch = None
                with contextlib.suppress(Exception):  # else it expires on its own
                    await self.store.release_lease(self.partition, self.me.id, change)

    async def _step_down(self, why: str) -> None:
        if self.epoch is None:
            return
        self.epoch = None
        log.warning("no longer leading partition %d: %s", self.partition, why)
        await self._on_lose(self.partition, why)
