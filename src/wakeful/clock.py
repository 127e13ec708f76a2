"""The one clock of the server: wall time in milliseconds, and waiting until a time.

Everything outside the pure engine reads time through a `Clock` (the engine receives it in
events), so a test harness can plug a virtual clock that jumps to the next timer when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Wall time, and a way to wait until a given wall time."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...

    async def sleep_until(self, due_ms: int, wake: asyncio.Event | None = None) -> None:
        """Return once the clock reaches `due_ms`, or earlier when `wake` is set."""
        ...


class SystemClock:
    """The machine's clock."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        return time.time_ns() // 1_000_000

    async def sleep_until(self, due_ms: int, wake: asyncio.Event | None = None) -> None:
        """Sleep until `due_ms` (wall time), or until `wake` is set."""
        delay = (due_ms - self.now_ms()) / 1000
        if delay <= 0:
            return
        if wake is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


SYSTEM_CLOCK = SystemClock()
