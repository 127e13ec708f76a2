"""The lifecycle hooks the engine calls: each one logs and counts, cheaply when nobody looks.

Logs, on the `wakeful.invocations` logger, each with `invocation_id`, `target` and `attempt`
attributes (fields of `--log-format json`): accepted, started, resumed, suspended and completed
at DEBUG; a terminal failure at INFO; a failed attempt that will be retried at WARNING, with the
error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wakeful.engine.events import AttemptCompleted, AttemptFailed, AttemptSuspended, Event
from wakeful.engine.model import Target
from wakeful.journal.entries import Entry, InputCommand, Result
from wakeful.journal.ids import InvocationId
from wakeful.observe import tracing
from wakeful.observe.metrics import Metrics

__all__ = ["Observer"]

log = logging.getLogger("wakeful.invocations")

_LAG_PROBE_S = 0.25
_MAX_TRACKED_RESOLVES = 100_000


class Observer:
    """Lifecycle hooks of one runtime, and its metrics."""

    def __init__(self) -> None:
        self.metrics = m = Metrics()
        # Label children resolved once: `.labels()` takes a lock and a dict lookup per call.
        self._first = m.attempts_started.labels("first")
        self._resumed_count = m.attempts_started.labels("resumed")
        self._suspended = m.attempts.labels("suspended")
        self._completed = m.attempts.labels("completed")
        self._failed = m.attempts.labels("failed")
        self._success = m.finished.labels("success")
        self._failure = m.finished.labels("failure")
        self._resolved_at: dict[InvocationId, float] = {}
        self._lag_max = 0.0
        # With tracing on: the span of each invocation's latest attempt here (a completion
        # links to it) and of the completion that will wake it (its next attempt links to it).
        self._attempt_spans: dict[InvocationId, Any] = {}
        self._wakers: dict[InvocationId, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def accepted(self, iid: InvocationId, target: Target) -> None:
        """A request created an invocation."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("accepted %s", target, extra=_extra(iid, target, 0))

    def attempt_started(
        self,
        iid: InvocationId,
        target: Target,
        attempt: int,
        known: int,
        headers: list[tuple[str, str]] | None = None,
    ) -> Any:
        """An attempt starts; `known` journal entries exist (more than the input: a resume).
        Returns its span when tracing is on (else None)."""
        resumed = known > 1
        (self._resumed_count if resumed else self._first).inc()
        self._resumed(iid)
        if log.isEnabledFor(logging.DEBUG):
            if resumed:
                log.debug(
                    "%s attempt %d resumed, replaying %d journal entries",
                    target,
                    attempt,
                    known,
                    extra=_extra(iid, target, attempt),
                )
            else:
                log.debug(
                    "%s attempt %d started", target, attempt, extra=_extra(iid, target, attempt)
                )
        tracer = tracing.tracer()
        if tracer is None:
            return None
        span = tracer.start_span(
            f"invoke {target}",
            context=tracing.parent_context(dict(headers or ())) or tracing.caller_context(str(iid)),
            links=tracing.link_to(self._wakers.pop(iid, None)),
            attributes={
                "restate.invocation.id": str(iid),
                "restate.invocation.target": str(target),
                "restate.invocation.attempt": attempt,
                "rpc.service": target.service,
                "rpc.method": target.handler,
                "restate.invocation.resumed": resumed,
            },
        )
        _bounded_put(self._attempt_spans, iid, span.get_span_context())
        return span

    def attempt_scope(self, span: Any) -> contextlib.AbstractContextManager[Any]:
        """Makes the attempt's span current while its handler runs (nothing when off)."""
        if span is None:
            return contextlib.nullcontext()
        from opentelemetry import trace

        return trace.use_span(span, end_on_exit=False)

    def attempt_ended(self, target: Target, event: Event, span: Any = None) -> None:
        """An attempt ended with `event` (completed, suspended or failed)."""
        if span is not None:
            _end_attempt_span(span, event)
        match event:
            case AttemptSuspended(invocation_id=iid, attempt=attempt, waiting=waiting):
                self._suspended.inc()
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s attempt %d suspended, waiting on completions %s, signals %s",
                        target,
                        attempt,
                        list(waiting.completion_ids),
                        list(waiting.signal_indexes),
                        extra=_extra(iid, target, attempt),
                    )
            case AttemptCompleted(invocation_id=iid, attempt=attempt):
                self._completed.inc()
            case AttemptFailed(invocation_id=iid, attempt=attempt, failure=failure):
                self._failed.inc()
                self.metrics.retries.inc()
                log.warning(
                    "%s attempt %d failed, will be retried: [%d] %s",
                    target,
                    attempt,
                    failure.code,
                    failure.message,
                    extra=_extra(iid, target, attempt),
                )
            case _:
                pass

    def finished(self, iid: InvocationId, result: Result) -> None:
        """An invocation completed, with a value or a terminal failure."""
        if self._attempt_spans:
            self._attempt_spans.pop(iid, None)
            tracing.forget_call(str(iid))
        failure = result.failure
        (self._success if failure is None else self._failure).inc()
        if failure is not None:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "invocation failed: [%d] %s",
                    failure.code,
                    failure.message,
                    extra={"invocation_id": str(iid)},
                )
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("invocation completed", extra={"invocation_id": str(iid)})

    def live(self, count: int) -> None:
        """How many attempts run in this process now."""
        self.metrics.live_attempts.set(count)

    # -- traced edges ---------------------------------------------------------------------

    def ingress_invoke(self, target: Target, forwarded: list[tuple[str, str]]) -> Any:
        """With tracing on: start the `ingress_invoke` span, continuing the request's
        `traceparent`, and make `forwarded` (the headers stored with the input) name it."""
        tracer = tracing.tracer()
        if tracer is None:
            return None
        from opentelemetry.trace import SpanKind

        span = tracer.start_span(
            f"ingress_invoke {target}",
            context=tracing.parent_context(dict(forwarded)),
            kind=SpanKind.SERVER,
            attributes={"restate.invocation.target": str(target)},
        )
        carrier = tracing.traceparent_of(span)
        forwarded[:] = [(k, v) for k, v in forwarded if k not in carrier] + list(carrier.items())
        return span

    def ingress_done(self, span: Any, iid: InvocationId, created: bool) -> None:
        """The invocation the `ingress_invoke` span created is durable (or existed)."""
        if span is not None:
            span.set_attribute("restate.invocation.id", str(iid))
            span.set_attribute("restate.invocation.created", created)
            span.end()

    async def awakeable_completion(
        self,
        iid: InvocationId,
        awakeable_id: str,
        action: str,
        headers: dict[str, str],
        load_journal: Callable[[InvocationId], Awaitable[list[Entry]]],
    ) -> Any:
        """With tracing on: a `{action} awakeable` span linked to the waiting attempt (or, when
        no attempt of it ran here since the start, to the trace stored with its input); the
        attempt it wakes links back to it. End it with `end_span`."""
        tracer = tracing.tracer()
        if tracer is None:
            return None
        from opentelemetry.trace import SpanKind

        waiting = self._attempt_spans.get(iid)
        if waiting is None:
            waiting = await _stored_trace(iid, load_journal)
        span = tracer.start_span(
            f"{action} awakeable",
            context=tracing.parent_context(headers),
            kind=SpanKind.SERVER,
            links=tracing.link_to(waiting),
            attributes={"restate.awakeable.id": awakeable_id, "restate.invocation.id": str(iid)},
        )
        _bounded_put(self._wakers, iid, span.get_span_context())
        return span

    @staticmethod
    def end_span(span: Any) -> None:
        """End a span a hook returned (None when tracing is off)."""
        if span is not None:
            span.end()

    # -- resolve → resume ------------------------------------------------------------------

    def signal_received(self, iid: InvocationId) -> None:
        """An awakeable completion for `iid` reached the ingress."""
        if len(self._resolved_at) >= _MAX_TRACKED_RESOLVES:
            self._resolved_at.clear()  # completions for unknown or finished invocations
        self._resolved_at.setdefault(iid, time.perf_counter())

    def delivered(self, iid: InvocationId) -> None:
        """Entries reached the attempt of `iid` still in memory."""
        self._resumed(iid)

    def _resumed(self, iid: InvocationId) -> None:
        if self._resolved_at:
            started = self._resolved_at.pop(iid, None)
            if started is not None:
                self.metrics.resume_latency.observe(time.perf_counter() - started)

    # -- group commit ----------------------------------------------------------------------

    def committed(self, events: int, seconds: float) -> None:
        """A batch of `events` was written in `seconds`."""
        self.metrics.batch_size.observe(events)
        self.metrics.commit_time.observe(seconds)

    # -- the event loop ----------------------------------------------------------------------

    async def watch_loop(self) -> None:
        """Measure how late the loop wakes a sleeping task (the lag histogram); reporting a
        blocked loop, and which handler blocks it, is the watchdog's job."""
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + _LAG_PROBE_S
            await asyncio.sleep(_LAG_PROBE_S)
            lag = max(0.0, loop.time() - expected)
            self.metrics.loop_lag.observe(lag)
            self._lag_max = max(self._lag_max, lag)

    def scraped(self) -> None:
        """Publish the per-scrape maximum lag and start a new window."""
        self.metrics.loop_lag_max.set(self._lag_max)
        self._lag_max = 0.0


def _end_attempt_span(span: Any, event: Event) -> None:
    from opentelemetry.trace import Status, StatusCode

    match event:
        case AttemptSuspended(waiting=waiting):
            span.set_attribute("restate.attempt.outcome", "suspended")
            span.add_event(
                "suspended",
                {"restate.waiting.signals": [int(i) for i in waiting.signal_indexes],
                 "restate.waiting.completions": [int(i) for i in waiting.completion_ids]},
            )  # fmt: skip
        case AttemptCompleted(result=result):
            span.set_attribute("restate.attempt.outcome", "completed")
            if result.failure is not None:
                span.set_status(Status(StatusCode.ERROR, result.failure.message))
        case AttemptFailed(failure=failure):
            span.set_attribute("restate.attempt.outcome", "failed")
            span.set_status(Status(StatusCode.ERROR, failure.message))
        case _:
            pass
    span.end()


async def _stored_trace(
    iid: InvocationId, load_journal: Callable[[InvocationId], Awaitable[list[Entry]]]
) -> Any:
    """The span context named by the `traceparent` stored with the invocation's input."""
    journal = await load_journal(iid)
    if not journal or not isinstance(journal[0], InputCommand):
        return None
    context = tracing.parent_context(dict(journal[0].headers))
    if context is None:
        return None
    from opentelemetry import trace

    found = trace.get_current_span(context).get_span_context()
    return found if found.is_valid else None


def _bounded_put(table: dict[InvocationId, Any], iid: InvocationId, value: Any) -> None:
    if len(table) >= _MAX_TRACKED_RESOLVES:
        table.clear()  # invocations that finished elsewhere or never resumed
    table[iid] = value


def _extra(iid: InvocationId, target: Target, attempt: int) -> dict[str, Any]:
    return {"invocation_id": str(iid), "target": str(target), "attempt": attempt}
