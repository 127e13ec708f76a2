"""The application the cluster tests serve on several processes sharing one PostgreSQL database.

Handlers append one line per event to files in the directory named by `WAKEFUL_TEST_DIR`
(one `write(2)` on an `O_APPEND` descriptor each, so lines never interleave), naming the pid of
the process that ran the step. It imports nothing from `tests`: the server loads it on its own.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import wakeful as restate
from wakeful import Context, ObjectContext, Service, VirtualObject, Workflow, WorkflowContext

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_TEST_DIR"


def trace(file: str, line: str) -> None:
    """Append `line` to the trace file `file`."""
    fd = os.open(Path(os.environ[TRACES_ENV]) / file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


flow = Service("Flow")


@flow.handler()
async def wait(ctx: Context, name: str) -> dict[str, Any]:
    """Hand an awakeable out (recorded once), wait for it, return what it was resolved with."""
    awakeable_id, awakeable = ctx.awakeable()

    def hand_out() -> str:
        trace("handed.log", f"{ctx.request().id} {awakeable_id} {os.getpid()}")
        return awakeable_id

    await ctx.run("hand-out", hand_out)
    return {"name": name, "payload": await awakeable}


@flow.handler()
async def slow(ctx: Context, seconds: float) -> int:
    """One step that takes `seconds`; returns the pid of the process whose result was recorded."""

    async def work() -> int:
        trace("slow.log", f"{ctx.request().id} start {os.getpid()}")
        await asyncio.sleep(seconds)
        trace("slow.log", f"{ctx.request().id} end {os.getpid()}")
        return os.getpid()

    return await ctx.run("work", work)


counter = VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> list[int]:
    """Append `n` to the key's list (exclusive: one call per key at a time, in arrival order)."""
    seen: list[int] = await ctx.get("seen") or []
    seen.append(n)
    ctx.set("seen", seen)
    return seen


once = Workflow("Once")


@once.main(name="run")
async def once_run(ctx: WorkflowContext, label: str) -> str:
    """A workflow whose body step leaves one trace per execution."""
    await ctx.run("body", lambda: trace("once.log", f"{ctx.key()} {os.getpid()}"))
    return f"ran {label}"


app = restate.app(services=[flow, counter, once])
