"""A deadlock guard: notices when something blocks the event loop, and says who.

Handlers, the leader and the HTTP servers share one event loop, so a handler that blocks it
(`time.sleep`, CPU-bound work, a blocking client) stalls every invocation. A thread pings the
loop a few times a second; when a ping is not answered within the threshold it logs the task
the loop is stuck in (for an attempt: its invocation id and handler), and again when the loop
is free. Blocking work belongs in `ctx.run` with a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["LoopWatchdog"]

log = logging.getLogger(__name__)

PING_INTERVAL_S = 0.25


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
        self.lag_s = 0.0  # the latest measured delay before the loop ran a ping
        self.max_lag_s = 0.0
        self.blocks = 0  # how many times the loop was blocked past the threshold
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="wakeful-watchdog", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (returns once the thread ends)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _watch(self) -> None:
        answered = threading.Event()
        while not self._stop.is_set():
            answered.clear()
            sent = time.monotonic()
            try:
                self.loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed
                return
            reported = False
            while not answered.wait(min(PING_INTERVAL_S, self.threshold_s)):
                if self._stop.is_set():
                    return
                blocked = time.monotonic() - sent
                self._measured(blocked)
                if not reported and blocked >= self.threshold_s:
                    reported = True
                    self.blocks += 1
                    log.warning(
                        "the event loop has been blocked for %.1f s by %s; every invocation "
                        "waits meanwhile: move blocking work into ctx.run with a thread",
                        blocked,
                        self.describe(self._current_task()),
                    )
            self._measured(time.monotonic() - sent)
            if reported:
                log.warning("the event loop is free again after %.1f s", self.lag_s)
            self._stop.wait(PING_INTERVAL_S)

    def _measured(self, lag: float) -> None:
        self.lag_s = lag
        self.max_lag_s = max(self.max_lag_s, lag)

    def _current_task(self) -> asyncio.Task[object] | None:
        try:
            return asyncio.current_task(self.loop)
        except RuntimeError:  # pragma: no cover - a Python that cannot tell from another thread
            return None
