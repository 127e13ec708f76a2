"""Wiring: store + registry + engine + partition leader + router + invokers + timers + recovery."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.deployments.registry import Deployments
from wakeful.deployments.store import DeploymentStore
from wakeful.engine.effects import (
    AbortAttempt,
    Effect,
    EntriesAppended,
    InvocationFinished,
    StartAttempt,
    TimerScheduled,
)
from wakeful.engine.machine import DAY_MS, Engine, EngineConfig
from wakeful.engine.model import HandlerKind, RetryPolicy, Target
from wakeful.invoker.inprocess import InProcessInvoker, InvokerSettings
from wakeful.invoker.router import InvokerRouter
from wakeful.observe import tracing
from wakeful.observe.observer import Observer
from wakeful.partition.leader import PartitionLeader
from wakeful.partition.purge import PurgeLoop
from wakeful.partition.recovery import recover
from wakeful.partition.router import Router
from wakeful.partition.supervisor import Supervisor
from wakeful.partition.timers import TimerLoop
from wakeful.partition.watchdog import LoopWatchdog
from wakeful.registry import IN_PROCESS, Registry, decode_manifest
from wakeful.sdk.app import App
from wakeful.sdk.discovery import manifest_of
from wakeful.server.datadir import DataDirError, DataDirLock
from wakeful.storage.api import SINGLE_PARTITION, Store
from wakeful.storage.sqlite import SqliteStore
from wakeful.storage.url import SQLITE_FILE, store_from_url

if TYPE_CHECKING:
    from wakeful.invoker.remote import RemoteInvoker

__all__ = ["Runtime", "RuntimeSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """Server-wide settings (each can be overridden per service/handler where Restate allows)."""

    data_dir: Path = Path(".wakeful")
    store_url: str | None = None  # sqlite:///DIR or postgresql://...; None: SQLite in data_dir
    inactivity_timeout: timedelta = timedelta(seconds=1)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    completion_retention: timedelta = timedelta(milliseconds=DAY_MS)
    purge_interval: timedelta = timedelta(seconds=60)  # the longest the purge loop sleeps
    blocked_loop_threshold: timedelta = timedelta(seconds=2)  # the watchdog reports past this


class Runtime:
    """Everything that runs invocations of one application, on one store."""

    def __init__(
        self,
        app: App,
        settings: RuntimeSettings,
        store: Store | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        if store is None and settings.store_url is not None:
            store = store_from_url(settings.store_url)
        self.store: Store = store or SqliteStore(settings.data_dir / SQLITE_FILE)
        self.lock = DataDirLock(settings.data_dir)
        self.watchdog: LoopWatchdog | None = None
        self.registry = Registry()
        self.registry.register(decode_manifest(manifest_of(app)), IN_PROCESS)
        self.engine = Engine(
            EngineConfig(
                retry_policy=self._retry_policy,
                completion_retention_ms=self._retention_ms,
                handler_kind=self.registry.handler_kind,
                tracks_awakeables=self._tracks_awakeables,
            )
        )
        self.observer = Observer()
        self.leader = PartitionLeader(self.store, self.engine, self._run_effects, clock)
        self.leader.on_commit = self.observer.committed
        self.supervisor = Supervisor(clock)
        self.router = Router([self.leader])
        self.in_process = InProcessInvoker(
            app,
            registry=self.registry,
            post=self.router.post,
            load_journal=lambda iid: self.store.load_journal(SINGLE_PARTITION, iid),
            load_state=lambda key: self.store.load_state(SINGLE_PARTITION, key),
            settings=InvokerSettings(settings.inactivity_timeout),
            clock=clock,
            observer=self.observer,
        )
        self.invoker = InvokerRouter(self.registry, {IN_PROCESS: self.in_process})
        self.deployments = Deployments(
            self.registry,
            DeploymentStore(settings.data_dir / "deployments.sqlite"),
            on_bind=self._deployment_bound,
            clock=clock,
        )
        self._remote: RemoteInvoker | None = None
        self.timers = TimerLoop(self.store, self.leader, clock)
        self.purge = PurgeLoop(self.store, self.leader, clock, _ms(settings.purge_interval, 60_000))

    def _inactivity_timeout_ms(self, target: Target) -> int | None:
        handler = self.registry.handler(target.service, target.handler)
        return None if handler is None else handler.inactivity_timeout_ms

    @property
    def remote(self) -> RemoteInvoker:
        """The invoker of remote deployments, made when the first deployment is bound."""
        if self._remote is None:
            # Imported on first use: the service protocol, its protobuf messages and the HTTP
            # clients cost a server that has no remote deployment much of its start-up time.
            from wakeful.invoker.remote import RemoteInvoker, RemoteSettings

            self._remote = RemoteInvoker(
                self.deployments,
                post=self.router.post,
                load_journal=lambda iid: self.store.load_journal(SINGLE_PARTITION, iid),
                load_state=lambda key: self.store.load_state(SINGLE_PARTITION, key),
                handler_kind=self.registry.handler_kind,
                inactivity_timeout_ms=self._inactivity_timeout_ms,
                settings=RemoteSettings(inactivity_timeout=self.settings.inactivity_timeout),
                clock=self.clock,
            )
        return self._remote

    def _deployment_bound(self, deployment_id: str) -> None:
        self.invoker.add(deployment_id, self.remote)

    # -- per-target settings ---------------------------------------------------------------

    def _retry_policy(self, target: Target) -> RetryPolicy:
        default = self.settings.retry_policy
        handler = self.registry.handler(target.service, target.handler)
        if handler is None:
            return default
        custom = handler.retry
        return RetryPolicy(
            initial_interval_ms=_or(custom.initial_interval_ms, default.initial_interval_ms),
            factor=custom.exponentiation_factor or default.factor,
            max_interval_ms=_or(custom.max_interval_ms, default.max_interval_ms),
            max_attempts=custom.max_attempts or default.max_attempts,
            on_max_attempts=custom.on_max_attempts or default.on_max_attempts,
        )

    def _tracks_awakeables(self, target: Target) -> bool:
        # In-process handlers journal each awakeable they create; a remote SDK speaks Restate's
        # protocol, which does not, so its invocations accept any awakeable index.
        handler = self.registry.handler(target.service, target.handler)
        return handler is not None and handler.deployment == IN_PROCESS

    def _retention_ms(self, target: Target, kind: HandlerKind) -> int:
        handler = self.registry.handler(target.service, target.handler)
        default = int(self.settings.completion_retention.total_seconds() * 1000)
        if handler is None:
            return default
        workflow = kind == HandlerKind.WORKFLOW
        kept = handler.workflow_retention_ms if workflow else handler.idempotency_retention_ms
        retention = _or(kept, default)
        # The journal stays with the invocation: keep it for journal_retention when longer.
        if handler.journal_retention_ms is not None:
            retention = max(retention, handler.journal_retention_ms)
        return retention

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Lock the data directory and open the stores (`DataDirError` if that fails); start
        the leader, timers and purge under supervision; recover."""
        tracing.configure_from_env()
        self.lock.acquire()
        try:
            await self.store.open()
            self.deployments.open()  # before recovery: it needs to know the remote services
        except (OSError, sqlite3.Error) as e:
            self.lock.release()
            where = self.settings.data_dir
            raise DataDirError(f"cannot open the store in {where}: {e}") from e
        threshold = self.settings.blocked_loop_threshold.total_seconds()
        if threshold > 0:
            self.watchdog = LoopWatchdog(asyncio.get_running_loop(), threshold, self._describe_task)
            self.watchdog.start()
        spawn = self.supervisor.spawn
        spawn("leader", self._lead, self._leader_crashed)
        spawn("timers", self.timers.run)
        spawn("purge", self.purge.run)
        spawn("loop-lag", self.observer.watch_loop)

    async def drain(self, within: float) -> int:
        """Before a stop: start no new work, let live attempts reach a durable point (waiting
        ones suspend at once) for up to `within` seconds, and commit what they reported.
        Returns how many attempts were still running (they are recovered on the next start)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # Timers, purge and recovery would start new attempts; the leader keeps committing.
        await self.supervisor.cancel("timers", "purge", "recovery")
        left = await self.invoker.drain(within)
        await self.leader.settle(max(0.5, deadline - loop.time()))
        return left

    async def stop(self) -> None:
        """Stop everything; attempts in flight are recovered on the next start."""
        await self.supervisor.stop()
        await self.invoker.close()
        await self.leader.stop()
        await self.store.close()
        self.deployments.close()
        self.lock.release()
        tracing.shutdown()
        if self.watchdog is not None:
            self.watchdog.stop()

    @property
    def loop_lag_s(self) -> float:
        """How late the event loop last ran a watchdog ping, in seconds (for metrics)."""
        return 0.0 if self.watchdog is None else self.watchdog.lag_s

    def _describe_task(self, task: asyncio.Task[Any] | None) -> str:
        if task is None:
            return "a callback outside any task"
        found = self.in_process.describe_task(task)
        if found is not None:
            return found
        coro = task.get_coro()
        return f"task {task.get_name()!r} ({getattr(coro, '__qualname__', coro)})"

    def health(self) -> str | None:
        """Why the engine cannot make progress right now; None when it can."""
        reasons = self.supervisor.reasons()
        if self.leader.failure is not None:
            reasons.append(self.leader.failure)
        return "; ".join(reasons) or None

    async def _lead(self) -> None:
        """Run the leader; each (re)start recovers the invocations that were running."""
        self.supervisor.spawn("recovery", self._recover)
        await self.leader.run()

    async def _recover(self) -> None:
        await recover(self.store, self.leader, self.clock)

    def _leader_crashed(self, reason: str) -> None:
        # Memory may be ahead of or behind the disk: drop it all, storage is the truth.
        self.leader.reset(reason)
        self.invoker.abort_all()

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
                case InvocationFinished(invocation_id=iid, result=result, expires_at_ms=expires):
                    self.observer.finished(iid, result)
                    if expires is not None:
                        self.purge.finished(expires)
                case TimerScheduled(due_ms=due):
                    self.timers.scheduled(due)


def _ms(value: timedelta | None, default: int) -> int:
    return default if value is None else int(value.total_seconds() * 1000)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
