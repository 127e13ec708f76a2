"""A deadlock guard: notices when something blocks the event loop, and says who.

Handlers, the leader and the HTTP servers share one event loop, so a handler that blocks it
(`time.sleep`, CPU-bound work, a blocking client) stalls every invocation. The loop stamps a
heartbeat a few times a second (a timer callback: it also measures how late the loop runs
it); a thread looks at the stamp and, when it is older than the threshold, logs the task
the loop is stuck in (for an attempt: its invocation id and handler), and again when the loop
is free. The thread never wakes the loop. Blocking work belongs in `ctx.run` with a thread
(`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["LoopWatchdog"]

log = logging.getLogger(__name__)

BEAT_INTERVAL_S = 0.25


class LoopWatchdog:
    """Measures the loop's lag (`lag_s`, `max_lag_s`) and reports blocks over `threshold_s`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold_s: float,
        describe: Callable[[asyncio.Task[object] | None], str],
    ) -> None:
        self.loop = loop
        self.threshold_s = threshold_s
        self.describe = describe
        self.lag_s = 0.0  # how late the loop ran its latest heartbeat
        self.max_lag_s = 0.0
        self.blocks = 0  # how many times the loop was blocked past the threshold
        self._last_beat = time.monotonic()
        self._next_beat = self._last_beat
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="wakeful-watchdog", daemon=True)

    def start(self) -> None:
        """Start the heartbeat and the watching thread (call from the loop's thread)."""
        self._beat()
        self._thread.start()

    def stop(self) -> None:
        """Stop both (returns once the thread ends)."""
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._thread.is_alive():
            self._thread.join(2)

    def _beat(self) -> None:
        now = time.monotonic()
        self.lag_s = max(0.0, now - self._next_beat)
        self.max_lag_s = max(self.max_lag_s, self.lag_s)
        self._last_beat = now
        self._next_beat = now + BEAT_INTERVAL_S
        self._timer = self.loop.call_later(BEAT_INTERVAL_S, self._beat)

    def _watch(self) -> None:
        check_every = min(self.threshold_s / 2, 0.5)
        reported_at: float | None = None  # the heartbeat that was too old, once reported
        while not self._stop.wait(check_every):
            last = self._last_beat
            silent = time.monotonic() - last - BEAT_INTERVAL_S
            if reported_at is None and silent >= self.threshold_s:
                reported_at = last
                self.blocks += 1
                log.warning(
                    "the event loop has been blocked for %.1f s by %s; every invocation "
                    "waits meanwhile: move blocking work into ctx.run with a thread",
                    silent,
                    self.describe(self._current_task()),
                )
            elif reported_at is not None and last != reported_at:
                blocked = last - reported_at - BEAT_INTERVAL_S
                reported_at = None
                log.warning("the event loop is free again after %.1f s", blocked)

    def _current_task(self) -> asyncio.Task[object] | None:
        try:
            return asyncio.current_task(self.loop)
        except RuntimeError:  # pragma: no cover - a Python that cannot tell from another thread
            return None
