"""The application the partition's process tests serve (`wakeful serve <this file>:app`).

Each execution of a `ctx.run` body appends `"{n} {step}"` to `runs.log` in the directory named
by `WAKEFUL_PARTITION_TEST_DIR`, with one `write(2)` on an `O_APPEND` descriptor.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import wakeful as restate
from wakeful import Context, Service

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_PARTITION_TEST_DIR"

steps = Service("Steps")
blocker = Service("Blocker")
echo = Service("Echo")


def _record(n: int, step: str) -> str:
    fd = os.open(Path(os.environ[TRACES_ENV]) / "runs.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{n} {step}\n".encode())
    finally:
        os.close(fd)
    return step


@steps.handler()
async def twice(ctx: Context, n: int) -> str:
    """Two recorded steps."""
    a = await ctx.run("a", lambda: _record(n, "a"))
    b = await ctx.run("b", lambda: _record(n, "b"))
    return f"{n}:{a}{b}"


@blocker.handler()
async def block(ctx: Context, seconds: float) -> str:
    """Blocks the event loop, as a handler must not."""
    time.sleep(seconds)  # noqa: ASYNC251 - the point: a handler that blocks the loop
    return "done"


@echo.handler()
async def say(ctx: Context, text: str) -> str:
    """Answer with the input (which the journal stores)."""
    return text


app = restate.app(services=[steps, blocker, echo])


def runs(traces: Path) -> Counter[tuple[int, str]]:
    """How many times each (n, step) body ran."""
    path = traces / "runs.log"
    lines = path.read_text().split() if path.exists() else []
    return Counter((int(n), step) for n, step in zip(lines[::2], lines[1::2], strict=True))
