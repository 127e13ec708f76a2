"""The lifecycle hooks the engine calls: each one logs and counts, cheaply when nobody looks.

Logs, on the `wakeful.invocations` logger, each with `invocation_id`, `target` and `attempt`
attributes (fields of `--log-format json`): accepted, started, resumed, suspended and completed
at DEBUG; a terminal failure at INFO; a failed attempt that will be retried at WARNING, with the
error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from wakeful.engine.events import AttemptCompleted, AttemptFailed, AttemptSuspended, Event
from wakeful.engine.model import Target
from wakeful.journal.entries import Result
from wakeful.journal.ids import InvocationId
from wakeful.observe.metrics import Metrics

__all__ = ["Observer"]

log = logging.getLogger("wakeful.invocations")

_LAG_PROBE_S = 0.25
_LAG_WARN_S = 1.0
_MAX_TRACKED_RESOLVES = 100_000


class Observer:
    """Lifecycle hooks of one runtime, and its metrics."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self._resolved_at: dict[InvocationId, float] = {}
        self._lag_max = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def accepted(self, iid: InvocationId, target: Target) -> None:
        """A request created an invocation."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("accepted %s", target, extra=_extra(iid, target, 0))

    def attempt_started(self, iid: InvocationId, target: Target, attempt: int, known: int) -> None:
        """An attempt starts; `known` journal entries exist (more than the input: a resume)."""
        resumed = known > 1
        self.metrics.attempts_started.labels("resumed" if resumed else "first").inc()
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

    def attempt_ended(self, target: Target, event: Event) -> None:
        """An attempt ended with `event` (completed, suspended or failed)."""
        match event:
            case AttemptSuspended(invocation_id=iid, attempt=attempt, waiting=waiting):
                self.metrics.attempts.labels("suspended").inc()
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
                self.metrics.attempts.labels("completed").inc()
            case AttemptFailed(invocation_id=iid, attempt=attempt, failure=failure):
                self.metrics.attempts.labels("failed").inc()
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
        failure = result.failure
        self.metrics.finished.labels("success" if failure is None else "failure").inc()
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
        """Measure how late the loop wakes a sleeping task; warn when it was blocked."""
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + _LAG_PROBE_S
            await asyncio.sleep(_LAG_PROBE_S)
            lag = max(0.0, loop.time() - expected)
            self.metrics.loop_lag.observe(lag)
            self._lag_max = max(self._lag_max, lag)
            if lag > _LAG_WARN_S:
                log.warning(
                    "the event loop was blocked for %.1fs: a handler doing blocking work "
                    "outside ctx.run or a thread delays every invocation",
                    lag,
                )

    def scraped(self) -> None:
        """Publish the per-scrape maximum lag and start a new window."""
        self.metrics.loop_lag_max.set(self._lag_max)
        self._lag_max = 0.0


def _extra(iid: InvocationId, target: Target, attempt: int) -> dict[str, Any]:
    return {"invocation_id": str(iid), "target": str(target), "attempt": attempt}
