"""Wiring: store + engine + partition leader + in-process invoker + timers + recovery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from wakeful.engine.effects import (
    AbortAttempt,
    Effect,
    EntriesAppended,
    InvocationFinished,
    StartAttempt,
    TimerScheduled,
)
from wakeful.engine.events import PurgeExpired, RecoverInvocation, TimerFired
from wakeful.engine.machine import DAY_MS, Engine, EngineConfig
from wakeful.engine.model import HandlerKind, RetryPolicy, Target
from wakeful.invoker.inprocess import InProcessInvoker, InvokerSettings, handler_kind
from wakeful.sdk.app import App
from wakeful.server.leader import PartitionLeader
from wakeful.storage.api import SINGLE_PARTITION, Store
from wakeful.storage.sqlite import SqliteStore
from wakeful.storage.url import SQLITE_FILE, store_from_url

__all__ = ["Runtime", "RuntimeSettings"]

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """Server-wide settings (each can be overridden per service/handler where Restate allows)."""

    data_dir: Path = Path(".wakeful")
    store_url: str | None = None  # sqlite:///DIR or postgresql://...; None: SQLite in data_dir
    inactivity_timeout: timedelta = timedelta(seconds=1)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    completion_retention: timedelta = timedelta(milliseconds=DAY_MS)
    purge_interval: timedelta = timedelta(seconds=60)  # the longest the purge loop sleeps


class Runtime:
    """Everything that runs invocations of one application, on one store."""

    def __init__(self, app: App, settings: RuntimeSettings, store: Store | None = None) -> None:
        self.app = app
        self.settings = settings
        if store is None and settings.store_url is not None:
            store = store_from_url(settings.store_url)
        self.store: Store = store or SqliteStore(settings.data_dir / SQLITE_FILE)
        self.engine = Engine(
            EngineConfig(
                retry_policy=self._retry_policy,
                completion_retention_ms=self._retention_ms,
                handler_kind=self._handler_kind,
            )
        )
        self.leader = PartitionLeader(self.store, self.engine, self._run_effects)
        self.invoker = InProcessInvoker(
            app,
            post=self.leader.post,
            load_journal=lambda iid: self.store.load_journal(SINGLE_PARTITION, iid),
            load_state=lambda key: self.store.load_state(SINGLE_PARTITION, key),
            settings=InvokerSettings(settings.inactivity_timeout),
        )
        self._timer_wake = asyncio.Event()
        self._purge_wake = asyncio.Event()
        self._next_expiry_ms: int | None = None
        self._next_timer_ms: int | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- per-target settings ---------------------------------------------------------------

    def _retry_policy(self, target: Target) -> RetryPolicy:
        default = self.settings.retry_policy
        handler = self.app.handler(target.service, target.handler)
        custom = None if handler is None else handler.retry_policy
        if custom is None:
            return default
        return RetryPolicy(
            initial_interval_ms=_ms(custom.initial_interval, default.initial_interval_ms),
            factor=custom.exponentiation_factor or default.factor,
            max_interval_ms=_ms(custom.max_interval, default.max_interval_ms),
            max_attempts=custom.max_attempts or default.max_attempts,
            on_max_attempts=custom.on_max_attempts or default.on_max_attempts,
        )

    def _retention_ms(self, target: Target, kind: HandlerKind) -> int:
        handler = self.app.handler(target.service, target.handler)
        default = int(self.settings.completion_retention.total_seconds() * 1000)
        if handler is None:
            return default
        if kind == HandlerKind.WORKFLOW:
            return _ms(handler.workflow_retention, default)
        return _ms(handler.idempotency_retention, default)

    def _handler_kind(self, target: Target) -> HandlerKind | None:
        handler = self.app.handler(target.service, target.handler)
        return None if handler is None else handler_kind(handler)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, start the leader, timers and purge; recover in the background."""
        await self.store.open()
        self.leader.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._timer_loop(), name="wakeful-timers"),
            loop.create_task(self._purge_loop(), name="wakeful-purge"),
            loop.create_task(self._recover(), name="wakeful-recovery"),
        ]

    async def stop(self) -> None:
        """Stop everything; attempts in flight are recovered on the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.invoker.close()
        await self.leader.stop()
        await self.store.close()

    async def _recover(self) -> None:
        """Start a new attempt for every invocation that was running when the process stopped.

        Suspended invocations are not touched: they stay on disk until a notification arrives.
        """
        after = None
        recovered = 0
        while True:
            ids = await self.store.running_invocations(SINGLE_PARTITION, after, 1000)
            if not ids:
                break
            now = _now_ms()
            await asyncio.gather(*(self.leader.submit(RecoverInvocation(i, now)) for i in ids))
            recovered += len(ids)
            after = ids[-1]
        if recovered:
            log.info("recovered %d running invocations", recovered)

    # -- effects ------------------------------------------------------------------------

    def _run_effects(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case StartAttempt():
                    self.invoker.start(effect)
                case EntriesAppended():
                    self.invoker.deliver(effect)
                case AbortAttempt(invocation_id=iid):
                    self.invoker.abort(iid)
                case InvocationFinished(expires_at_ms=expires) if expires is not None:
                    if self._next_expiry_ms is None or expires < self._next_expiry_ms:
                        self._next_expiry_ms = expires
                        self._purge_wake.set()
                case TimerScheduled(due_ms=due):
                    if self._next_timer_ms is None or due < self._next_timer_ms:
                        self._next_timer_ms = due
                        self._timer_wake.set()

    # -- timers -------------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        """Fire due timers: the earliest due time is kept in memory, the timers on disk."""
        self._next_timer_ms = await self.store.next_timer_due_ms(SINGLE_PARTITION)
        while True:
            self._timer_wake.clear()
            due = self._next_timer_ms
            if due is None:
                await self._timer_wake.wait()
                continue
            delay = (due - _now_ms()) / 1000
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._timer_wake.wait(), delay)
                continue
            now = _now_ms()
            timers = await self.store.due_timers(SINGLE_PARTITION, now, 512)
            await asyncio.gather(*(self.leader.submit(TimerFired(t, now)) for t in timers))
            self._next_timer_ms = await self.store.next_timer_due_ms(SINGLE_PARTITION)

    async def _purge_loop(self) -> None:
        """Purge completed invocations when their retention ends (the next expiry is kept in
        memory, the expiry times on disk; a completion with an earlier expiry wakes it)."""
        while True:
            now = _now_ms()
            expired = await self.store.expired_invocations(SINGLE_PARTITION, now, 1000)
            if expired:
                await self.leader.submit(PurgeExpired(expired, now))
                continue
            self._purge_wake.clear()
            self._next_expiry_ms = await self.store.next_expiry_ms(SINGLE_PARTITION)
            delay = self.settings.purge_interval.total_seconds()
            if self._next_expiry_ms is not None:
                delay = min(delay, max(0.0, (self._next_expiry_ms - _now_ms()) / 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._purge_wake.wait(), delay)


def _ms(value: timedelta | None, default: int) -> int:
    return default if value is None else int(value.total_seconds() * 1000)
