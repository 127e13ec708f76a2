"""The application the operations tests serve (`wakeful serve tests/ops/apps_ops.py:app`).

`Waiter/wait` hands its awakeable id out by writing `{invocation id} {awakeable id}` to
`awakeables.log` in the directory named by `WAKEFUL_TEST_DIR`, then waits for it;
`Counter/add` keeps a total in its state; `Slow/step` runs a step that takes `seconds` and
records each execution in `steps.log`; `Flaky/once` fails its first attempt;
`Caller/add_twice` calls `Counter/add` twice. This module
imports nothing from `tests`.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import wakeful as restate
from wakeful import Context, ObjectContext, Service, VirtualObject

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_TEST_DIR"

log = restate.getLogger("apps_ops")


def _append(file: str, line: str) -> None:
    fd = os.open(Path(os.environ[TRACES_ENV]) / file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


waiter = Service("Waiter")


@waiter.handler()
async def wait(ctx: Context, label: str) -> str:
    """Wait for an awakeable; answer `label:value`."""
    awakeable_id, promise = ctx.awakeable(type_hint=str)
    await ctx.run("hand out", lambda: _append("awakeables.log", f"{label} {awakeable_id}"))
    log.info("waiting for %s", awakeable_id)
    value = await promise
    return f"{label}:{value}"


counter = VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    """Add `n` to the key's total and return it."""
    total = (await ctx.get("total", type_hint=int) or 0) + n
    ctx.set("total", total)
    ctx.set("last", f"added {n}")
    return total


slow = Service("Slow")


@slow.handler()
async def step(ctx: Context, seconds: float) -> str:
    """A step that takes `seconds`, then an answer naming the invocation."""

    async def body() -> str:
        await asyncio.sleep(seconds)
        _append("steps.log", ctx.request().id)
        return "done"

    result = await ctx.run("slow", body)
    return f"{ctx.request().id}:{result}"


flaky = Service("Flaky")


@flaky.handler()
async def once(ctx: Context, label: str) -> str:
    """Fail the first attempt for `label` (a marker file remembers it), then answer `label`."""
    marker = Path(os.environ[TRACES_ENV]) / f"flaky-{label}"
    if not marker.exists():
        marker.touch()
        raise RuntimeError(f"first attempt of {label} fails")
    return label


caller = Service("Caller")


@caller.handler()
async def add_twice(ctx: Context, key: str) -> int:
    """Call Counter/add for `key` twice (durable calls); answer the last total."""
    await ctx.object_call(add, key=key, arg=1)
    return await ctx.object_call(add, key=key, arg=1)


@caller.handler()
async def block(ctx: Context, seconds: float) -> None:
    """Block the event loop for `seconds` (the mistake the loop-lag guard reports)."""
    time.sleep(seconds)  # noqa: ASYNC251 - blocking on purpose: this is what is measured


@caller.handler()
async def attempt_traceparent(ctx: Context) -> str:
    """The `traceparent` among the attempt's headers (empty without tracing)."""
    return ctx.request().attempt_headers.get("traceparent", "")


app = restate.app(services=[waiter, counter, slow, flaky, caller])
