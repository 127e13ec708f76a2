"""A restate-sdk endpoint served by hypercorn: the remote deployment of the remote tests.

Run as `python endpoint.py PORT MODE` (MODE: `h2c` serves bidi over HTTP/2 cleartext, `http1`
serves request/response over HTTP/1.1). `RUNS_FILE` (env) collects one line per `ctx.run`
body execution, so tests can count them.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import restate
from hypercorn.asyncio import serve
from hypercorn.config import Config
from restate import (
    Context,
    ObjectContext,
    Service,
    TerminalError,
    VirtualObject,
    Workflow,
    WorkflowContext,
    WorkflowSharedContext,
)

RUNS_FILE = os.environ.get("RUNS_FILE")


def record_run(label: str) -> str:
    """Append a line to the runs file: one per execution of a ctx.run body."""
    if RUNS_FILE:
        with open(RUNS_FILE, "a") as f:
            f.write(label + "\n")
    return label


approvals = Service("RemoteApprovals")


@approvals.handler()
async def request(ctx: Context, doc: str) -> str:
    """Create an awakeable, hand its id out in a ctx.run, wait for the verdict."""
    awakeable_id, verdict = ctx.awakeable(type_hint=str)
    await ctx.run_typed("notify", record_run, label=f"{doc} {awakeable_id}")
    return f"{doc}: {await verdict}"


@approvals.handler()
async def resolve(ctx: Context, req: dict[str, str]) -> None:
    """Resolve an awakeable from a remote handler."""
    ctx.resolve_awakeable(req["id"], req["value"])


@approvals.handler()
async def race(ctx: Context, millis: int) -> str:
    """An awakeable racing a timer."""
    _, verdict = ctx.awakeable(type_hint=str)
    match await restate.select(verdict=verdict, timeout=ctx.sleep(timedelta(milliseconds=millis))):
        case ["verdict", value]:
            return f"verdict {value}"
        case _:
            return "timeout"


@approvals.handler()
async def call_local(ctx: Context, name: str) -> str:
    """Call an in-process service of the server's application."""
    out = await ctx.generic_call("LocalGreeter", "greet", arg=f'"{name}"'.encode())
    return f"remote got {out.decode()}"


@approvals.handler()
async def cancellable(ctx: Context) -> str:
    """Wait on an awakeable; on cancel, run a compensation and report it."""
    _, verdict = ctx.awakeable(type_hint=str)
    try:
        return await verdict
    except TerminalError as e:
        await ctx.run_typed("compensate", record_run, label="compensated")
        raise TerminalError(f"compensated after {e.message}", e.status_code) from e


@approvals.handler()
async def steps(ctx: Context, n: int) -> int:
    """Several ctx.run steps, each recorded once it ran."""
    total = 0
    for i in range(n):
        total += await ctx.run_typed(f"step {i}", lambda i=i: i + 1)
    return total


def _second_step(tag: str) -> str:
    """Hangs the first time it runs (the test kills the endpoint then), returns afterwards."""
    record_run(f"{tag} second")
    if RUNS_FILE and Path(RUNS_FILE).read_text().count(f"{tag} second\n") == 1:
        time.sleep(60)
    return "second"


@approvals.handler()
async def crashy(ctx: Context, tag: str) -> str:
    """Two steps; the endpoint is killed while the second one runs for the first time."""
    first = await ctx.run_typed("first", record_run, label=f"{tag} first")
    second = await ctx.run_typed("second", _second_step, tag=tag)
    return f"{first} {second}"


counter = VirtualObject("RemoteCounter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    """Add to the key's total (exclusive: one at a time per key)."""
    total = (await ctx.get("total", type_hint=int) or 0) + n
    ctx.set("total", total)
    return total


@counter.handler()
async def hold(ctx: ObjectContext) -> str:
    """Hold the key's lock until an awakeable is resolved."""
    awakeable_id, release = ctx.awakeable(type_hint=str)
    await ctx.run_typed("publish", record_run, label=f"hold {awakeable_id}")
    return await release


review = Workflow("RemoteReview")


@review.main()
async def run(ctx: WorkflowContext, doc: str) -> str:
    """Wait for the verdict promise."""
    ctx.set("doc", doc)
    verdict = await ctx.promise("verdict", type_hint=str).value()
    return f"{doc}: {verdict}"


@review.handler()
async def submit(ctx: WorkflowSharedContext, verdict: str) -> None:
    """Resolve the verdict promise."""
    await ctx.promise("verdict", type_hint=str).resolve(verdict)


app = restate.app(services=[approvals, counter, review])


async def main(port: int, mode: str) -> None:
    """Serve the endpoint until killed."""
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    if mode == "http1":
        config.alpn_protocols = ["http/1.1"]
    await serve(app, config)  # type: ignore[arg-type]  # restate's ASGI app


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
