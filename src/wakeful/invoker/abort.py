"""Restate's abort timeout for in-process attempts: an attempt that makes no journal progress
for its inactivity timeout plus its abort timeout (it cannot suspend: a `ctx.run` still runs,
or the handler awaits something that is not durable) is aborted and retried."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from wakeful.errors import RetryableError

__all__ = ["Progress", "run_with_abort_timeout"]

T = TypeVar("T")


class Progress:
    """When the attempt last sent entries to the journal (monotonic seconds)."""

    def __init__(self) -> None:
        self.at = time.monotonic()

    def touch(self) -> None:
        """The attempt made progress now."""
        self.at = time.monotonic()


async def run_with_abort_timeout(
    invocation: Coroutine[Any, Any, T], limit_s: float, progress: Progress
) -> T:
    """Await `invocation`; cancel it once `limit_s` pass without progress, and raise a
    RetryableError saying so (the invocation's retry policy then applies)."""
    task = asyncio.ensure_future(invocation)
    try:
        while True:
            remaining = limit_s - (time.monotonic() - progress.at)
            if remaining <= 0:
                break
            done, _ = await asyncio.wait({task}, timeout=remaining)
            if done:
                return task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):  # its own failure no longer matters
                await task
    raise RetryableError(
        f"attempt aborted: no journal progress for {limit_s:g}s "
        "(inactivity timeout + abort timeout)"
    )
