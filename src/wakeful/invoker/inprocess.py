"""Runs attempts in this process: the handler, its context and the replay machine."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.engine.events import (
    AppendEntries,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Event,
)
from wakeful.engine.model import HandlerKind, ObjectKey
from wakeful.errors import (
    RetryableError,
    SdkInternalBaseException,
    TerminalError,
    VMError,
)
from wakeful.invoker.abort import Progress, run_with_abort_timeout
from wakeful.journal.entries import Entry, Failure, Result
from wakeful.journal.ids import InvocationId
from wakeful.logging import current_machine
from wakeful.observe import tracing
from wakeful.observe.observer import Observer
from wakeful.registry import HandlerRecord, Registry
from wakeful.sdk.app import App
from wakeful.sdk.attempt_context import AttemptContext
from wakeful.sdk.current import context_var as current_context
from wakeful.sdk.keyed_context import (
    ObjectAttemptContext,
    ObjectSharedAttemptContext,
    WorkflowAttemptContext,
    WorkflowSharedAttemptContext,
)
from wakeful.sdk.service import Handler, call_handler
from wakeful.vm.machine import ReplayMachine
from wakeful.vm.pump import AttemptPump

__all__ = ["InProcessInvoker", "InvokerSettings", "handler_kind"]

_CONTEXTS: dict[HandlerKind, type[AttemptContext]] = {
    HandlerKind.SERVICE: AttemptContext,
    HandlerKind.EXCLUSIVE: ObjectAttemptContext,
    HandlerKind.SHARED: ObjectSharedAttemptContext,
    HandlerKind.WORKFLOW: WorkflowAttemptContext,
    HandlerKind.WORKFLOW_SHARED: WorkflowSharedAttemptContext,
}

log = logging.getLogger(__name__)


def handler_kind(handler: Handler) -> HandlerKind:
    """The engine's view of a handler: service, exclusive/shared object, workflow run/shared."""
    if handler.service_kind == "service":
        return HandlerKind.SERVICE
    if handler.service_kind == "object":
        return HandlerKind.SHARED if handler.kind == "shared" else HandlerKind.EXCLUSIVE
    return HandlerKind.WORKFLOW if handler.kind == "workflow" else HandlerKind.WORKFLOW_SHARED


@dataclass(frozen=True, slots=True)
class InvokerSettings:
    """Server-wide defaults of the invoker."""

    inactivity_timeout: timedelta = timedelta(seconds=1)


@dataclass(slots=True)
class _Live:
    attempt: int
    task: asyncio.Task[None] | None
    pump: AttemptPump | None = None  # None while the journal is being loaded
    early: list[EntriesAppended] = field(default_factory=list)


class InProcessInvoker:
    """Starts attempts on `StartAttempt` and feeds them the entries the engine appends."""

    def __init__(
        self,
        app: App,
        *,
        registry: Registry | None = None,
        post: Callable[[Event], None],
        load_journal: Callable[[InvocationId], Awaitable[list[Entry]]],
        load_state: Callable[[ObjectKey], Awaitable[dict[str, bytes]]],
        settings: InvokerSettings | None = None,
        observer: Observer | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.app = app
        self.registry = registry
        self.clock = clock
        self.settings = settings or InvokerSettings()
        self._post = post
        self._load_journal = load_journal
        self._load_state = load_state
        self._live: dict[InvocationId, _Live] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.draining = False
        self.observer = observer or Observer()

    @property
    def running(self) -> int:
        """How many attempts are in memory right now."""
        return len(self._live)

    def check_input(self, service: str, handler: str, body: bytes) -> str | None:
        """None if the handler's input serde decodes `body`, else why not (a 400 at the edge)."""
        found = self.app.handler(service, handler)
        if found is None or found.arity != 2:
            return None
        try:
            found.io.input_serde.deserialize(body)
        except Exception as e:
            return f"cannot decode the body for {found.label}: {e}"
        return None

    def start(self, effect: StartAttempt) -> None:
        """Start an attempt (the engine already made it the current one)."""
        if self.draining:
            return  # its invocation stays running on disk: the next start recovers it
        # Registered at once: entries appended in the same batch are delivered to it.
        live = _Live(effect.attempt, None)
        self._live[effect.invocation_id] = live
        task = asyncio.get_running_loop().create_task(self._run(effect, live))
        live.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def deliver(self, effect: EntriesAppended) -> None:
        """Hand durable journal entries to the live attempt they belong to."""
        live = self._live.get(effect.invocation_id)
        if live is None or live.attempt != effect.attempt:
            return
        if live.pump is None:
            live.early.append(effect)  # arrived while the journal was being loaded
        else:
            live.pump.deliver(effect.first_index, effect.entries)
            self.observer.delivered(effect.invocation_id)

    def abort(self, invocation_id: InvocationId) -> None:
        """Stop a live attempt, if there is one."""
        live = self._live.pop(invocation_id, None)
        if live is not None and live.task is not None:
            live.task.cancel()

    async def drain(self, within: float) -> int:
        """Let live attempts reach a durable point within `within` seconds: waiting ones
        suspend at once, running steps finish; start no new ones. Returns how many are left."""
        self.draining = True
        for live in self._live.values():
            if live.pump is not None:
                live.pump.suspend_at_next_wait()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
        return len(self._tasks)

    def describe_task(self, task: asyncio.Task[Any]) -> str | None:
        """`invocation <id> (<service>/<handler>)` if `task` runs an attempt, else None.

        Called from the watchdog's thread while the loop is blocked, hence the defensive copy.
        """
        try:
            live = list(self._live.items())
        except RuntimeError:  # changed size while copied: the loop is not blocked after all
            return None
        for invocation_id, entry in live:
            if entry.task is task:
                label = entry.pump.machine.handler_label if entry.pump is not None else "?"
                return f"invocation {invocation_id} ({label})"
        return None

    def abort_all(self) -> None:
        """Stop every live attempt (their invocations are recovered)."""
        for invocation_id in list(self._live):
            self.abort(invocation_id)

    async def close(self) -> None:
        """Abort every attempt (their invocations are recovered on the next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, effect: StartAttempt, live: _Live) -> None:
        iid = effect.invocation_id
        handler = self.app.handler(effect.target.service, effect.target.handler)
        try:
            await self._run_attempt(effect, handler, live)
        finally:
            if self._live.get(iid) is live:
                del self._live[iid]

    async def _run_attempt(
        self, effect: StartAttempt, handler: Handler | None, live: _Live
    ) -> None:
        iid, attempt = effect.invocation_id, effect.attempt
        journal = effect.journal
        if journal is None:
            journal = await self._load_journal(iid)
        record = self._record(effect)
        if record is not None:
            kind = record.kind
        else:
            kind = handler_kind(handler) if handler is not None else HandlerKind.SERVICE
        load_state = None
        if kind != HandlerKind.SERVICE and effect.target.key is not None:
            key = (effect.target.service, effect.target.key)

            def load_state() -> Awaitable[dict[str, bytes]]:
                return self._load_state(key)

        progress = Progress()

        def flush(entries: list[Entry]) -> None:
            progress.touch()
            self._post(AppendEntries(iid, attempt, entries, self.clock.now_ms()))

        timeout = self.settings.inactivity_timeout
        if record is not None and record.inactivity_timeout_ms is not None:
            timeout = timedelta(milliseconds=record.inactivity_timeout_ms)
        elif record is None and handler is not None and handler.inactivity_timeout is not None:
            timeout = handler.inactivity_timeout
        machine = ReplayMachine(str(effect.target), str(iid))
        pump = AttemptPump(machine, send=flush, inactivity_timeout=timeout.total_seconds())
        try:
            machine.start(journal)
        except VMError as e:
            self._post(
                AttemptFailed(iid, attempt, [], Failure(e.code, str(e)), self.clock.now_ms())
            )
            return
        for early in live.early:  # the machine skips what the loaded journal already had
            pump.deliver(early.first_index, early.entries)
        live.pump, live.early = pump, []
        if self.draining:
            pump.suspend_at_next_wait()
        ctx = _CONTEXTS[kind](
            pump,
            iid,
            effect.idempotency_key,
            effect.target.key or "",
            load_state,
            kind.writes_state,
            scope=effect.target.scope,
            limit_key=effect.target.limit_key,
        )
        ctx.clock = self.clock  # durable timers and ctx.time() read the server's clock
        abort_after = _abort_after(record, handler, timeout)
        observer = self.observer
        span = observer.attempt_started(
            iid, effect.target, attempt, len(journal), machine.input.headers
        )
        if span is None:
            ended = await self._attempt(effect, handler, pump, ctx, abort_after, progress)
        else:
            request = ctx.request()  # as in restate-sdk: the attempt's own trace context
            request.attempt_headers = {**request.headers, **tracing.traceparent_of(span)}
            with observer.attempt_scope(span):
                ended = await self._attempt(effect, handler, pump, ctx, abort_after, progress)
        observer.attempt_ended(effect.target, ended, span)
        self._post(ended)

    def _record(self, effect: StartAttempt) -> HandlerRecord | None:
        """The registry's record of the attempt's handler (None without a registry)."""
        if self.registry is None:
            return None
        return self.registry.handler(effect.target.service, effect.target.handler)

    async def _attempt(
        self,
        effect: StartAttempt,
        handler: Handler | None,
        pump: AttemptPump,
        ctx: AttemptContext,
        abort_after: float | None = None,
        progress: Progress | None = None,
    ) -> Event:
        machine = pump.machine
        iid, attempt = effect.invocation_id, effect.attempt
        now = self.clock.now_ms
        if handler is None:
            failure = Failure(404, f"no handler {machine.handler_label} in this application")
            return AttemptFailed(iid, attempt, [], failure, now())
        current_machine.set(machine)  # the replay-aware logging filter reads it
        try:
            try:
                invocation = _invoke(handler, ctx, machine.input.value)
                if abort_after is None or progress is None:
                    output = await invocation
                else:
                    output = await run_with_abort_timeout(invocation, abort_after, progress)
                result = Result(value=output)
            except TerminalError as e:
                result = Result(failure=Failure(e.status_code, e.message, e.metadata))
            except NotImplementedError as e:  # a feature wakeful lacks: retrying cannot help
                result = Result(failure=Failure(501, f"NotImplementedError: {e}"))
            await ctx.settle()  # state reads made but not awaited get their values
            machine.end(result)
        except SdkInternalBaseException:
            pass  # suspended or failed: the machine has latched which (checked below)
        except RetryableError as e:
            machine.fail(e)
        except Exception as e:
            machine.fail(e)
        else:
            return AttemptCompleted(iid, attempt, machine.take_output(), result, now())
        finally:
            ctx.close()
        return self._unfinished(effect, machine)

    def _unfinished(self, effect: StartAttempt, machine: ReplayMachine) -> Event:
        """The event of an attempt that did not complete: suspended, or failed (latched)."""
        iid, attempt = effect.invocation_id, effect.attempt
        now = self.clock.now_ms
        error = machine.failure
        if isinstance(error, VMError):  # a journal mismatch or a protocol violation
            log.error("invocation %s: %s", iid, error)
            return AttemptFailed(iid, attempt, [], Failure(error.code, str(error)), now())
        if error is None and machine.waiting is not None:
            return AttemptSuspended(
                iid, attempt, machine.take_output(), machine.waiting, machine.seen_length,
                now(),
            )  # fmt: skip
        if isinstance(error, RetryableError):
            retry_after = (
                None if error.retry_after is None else int(error.retry_after.total_seconds() * 1000)
            )
            failure = Failure(error.status_code, error.message)
            return AttemptFailed(iid, attempt, machine.take_output(), failure, now(), retry_after)
        if error is None:  # an internal exception raised by the handler itself
            error = RuntimeError("the handler raised wakeful's internal control flow")
        # The observer logs the failure with the invocation; the traceback goes to DEBUG.
        log.debug("invocation %s attempt %d raised", iid, attempt, exc_info=error)
        message = "".join(traceback.format_exception_only(error)).strip()
        return AttemptFailed(iid, attempt, machine.take_output(), Failure(500, message), now())


def _abort_after(
    record: HandlerRecord | None, handler: Handler | None, inactivity: timedelta
) -> float | None:
    """Seconds without journal progress after which the attempt is aborted (Restate: the
    inactivity timeout, then the abort timeout); None when no abort timeout is set."""
    if record is not None and record.abort_timeout_ms is not None:
        return inactivity.total_seconds() + record.abort_timeout_ms / 1000
    if record is None and handler is not None and handler.abort_timeout is not None:
        return (inactivity + handler.abort_timeout).total_seconds()
    return None


async def _invoke(handler: Handler, ctx: AttemptContext, body: bytes) -> bytes:
    """Call the handler function with its decoded input, inside the handler's invocation
    context managers (entered in order, for this attempt); return the encoded output."""
    token = current_context.set(ctx)  # `wakeful.extensions.current_context()`
    try:
        async with AsyncExitStack() as stack:
            for manager in handler.context_managers or ():
                await stack.enter_async_context(manager())
            return await call_handler(handler, ctx, body)
    finally:
        current_context.reset(token)
