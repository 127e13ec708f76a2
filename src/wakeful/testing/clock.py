"""A virtual clock for tests: it runs at the speed of real time and can be moved forward."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

__all__ = ["VirtualClock"]


def _real_ms() -> int:
    return time.time_ns() // 1_000_000


class VirtualClock:
    """A `wakeful.clock.Clock` that a test can move forward; between moves it ticks normally.

    ```python
    clock = VirtualClock()
    clock.advance_to(clock.now_ms() + 3 * 86_400_000)   # three days later, at once
    ```
    Sleepers (the timer loop) wake when real time reaches their due time or when a move
    passes it, whichever comes first.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._offset_ms = 0 if start_ms is None else start_ms - _real_ms()
        self._order = itertools.count()
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        """The virtual time, in milliseconds since the Unix epoch."""
        return _real_ms() + self._offset_ms

    def advance_to(self, when_ms: int) -> None:
        """Move the clock forward to `when_ms` (never back) and wake the sleepers due by then."""
        gap = when_ms - self.now_ms()
        if gap > 0:
            self._offset_ms += gap
        self._wake_due()

    def _wake_due(self) -> None:
        now = self.now_ms()
        while self._sleepers and self._sleepers[0][0] <= now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def sleep_until(self, due_ms: int, wake: asyncio.Event | None = None) -> None:
        """Return once the virtual time reaches `due_ms`, or earlier when `wake` is set."""
        delay_ms = due_ms - self.now_ms()
        if delay_ms <= 0:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (due_ms, next(self._order), future))
        timer = loop.call_later(delay_ms / 1000, self._wake_due)
        waker = None if wake is None else asyncio.ensure_future(wake.wait())
        try:
            if waker is None:
                await future
            else:
                await asyncio.wait((future, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            future.cancel()  # the heap drops finished sleepers when their time comes
            if waker is not None:
                waker.cancel()
                await asyncio.gather(waker, return_exceptions=True)
