"""Keeps the partition's tasks alive: a task that dies is logged, reported and restarted.

A crashed task makes the partition unhealthy (`reasons`) until it runs again; restarts back
off from 0.1 s to 5 s so that a task failing at once does not spin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from wakeful.clock import Clock

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)

FIRST_BACKOFF_MS = 100
MAX_BACKOFF_MS = 5_000

Factory = Callable[[], Coroutine[Any, Any, object]]


class Supervisor:
    """Runs named tasks; restarts one that raises, after `on_crash` has cleaned up after it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.crashed: dict[str, str] = {}  # task name -> why it is down, while it is down
        self.restarts = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def spawn(
        self, name: str, factory: Factory, on_crash: Callable[[str], None] | None = None
    ) -> None:
        """Run `factory()` under supervision until it returns (or for ever)."""
        old = self._tasks.get(name)
        if old is not None and not old.done():
            old.cancel()
        task = asyncio.get_running_loop().create_task(
            self._supervise(name, factory, on_crash), name=f"wakeful-{name}"
        )
        self._tasks[name] = task

    def reasons(self) -> list[str]:
        """Why the partition cannot make progress right now (empty when it can)."""
        return list(self.crashed.values())

    async def stop(self) -> None:
        """Cancel every task."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _supervise(
        self, name: str, factory: Factory, on_crash: Callable[[str], None] | None
    ) -> None:
        backoff = FIRST_BACKOFF_MS
        while True:
            started = self.clock.now_ms()
            try:
                await factory()
                return
            except Exception as e:
                if self.clock.now_ms() - started > 2 * MAX_BACKOFF_MS:
                    backoff = FIRST_BACKOFF_MS  # it had been running well: a fresh failure
                reason = f"{name} crashed: {type(e).__name__}: {e}"
                log.exception("%s; restarting in %d ms", reason, backoff)
                self.crashed[name] = reason
                if on_crash is not None:
                    try:
                        on_crash(reason)
                    except Exception:
                        log.exception("cleaning up after %s failed", name)
            await self.clock.sleep_until(self.clock.now_ms() + backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_MS)
            self.restarts += 1
            self.crashed.pop(name, None)
