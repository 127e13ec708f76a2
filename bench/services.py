"""Benchmark services: one file that runs on wakeful and on Restate's Python SDK.

`BENCH_SDK=wakeful` (the default) imports `wakeful as restate` and is served by
`wakeful serve bench/services.py:app`; `BENCH_SDK=restate` imports restate-sdk's `restate`
and is served by hypercorn (`hypercorn services:app`) behind a Restate server. Nothing below
depends on which one was imported.

`BENCH_RUN_LOG` names the file that the `Bench/pending` step appends to (one line per
execution of its `ctx.run` body), so the harness can check that each body ran once across a
`kill -9` of the server.
"""

from __future__ import annotations

import os

if os.environ.get("BENCH_SDK", "wakeful") == "restate":
    import restate
else:
    import wakeful as restate  # type: ignore[no-redef]

bench = restate.Service("Bench")


@bench.handler()
async def echo(ctx: restate.Context, value: str) -> str:
    """Return the input: the cost of a call with no durable step."""
    return value


@bench.handler()
async def awakeable(ctx: restate.Context) -> str:
    """Create an awakeable, hand its id out in a durable step, wait for it.

    The first awakeable of an invocation has signal index 17, so a client that knows the
    invocation id derives the awakeable id itself; the step stands for handing it out.
    """
    awakeable_id, result = ctx.awakeable(type_hint=str)
    await ctx.run("hand out", lambda: awakeable_id)
    return await result


def _append_line(text: str) -> str:
    """Record one execution of a step body: a line appended (O_APPEND) to BENCH_RUN_LOG."""
    path = os.environ["BENCH_RUN_LOG"]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)
    return text


@bench.handler()
async def pending(ctx: restate.Context, key: str) -> str:
    """A step with a side effect (a line in BENCH_RUN_LOG), then wait on an awakeable."""
    _, result = ctx.awakeable(type_hint=str)
    await ctx.run("record", lambda: _append_line(key))
    return key + ":" + await result


flow = restate.Workflow("BenchFlow")


@flow.main()
async def run(ctx: restate.WorkflowContext) -> str:
    """Wait for the workflow's promise; a shared handler resolves it."""
    return await ctx.promise("answer", type_hint=str).value()


@flow.handler()
async def resolve(ctx: restate.WorkflowSharedContext, value: str) -> None:
    """Resolve the promise the main handler waits for."""
    await ctx.promise("answer", type_hint=str).resolve(value)


app = restate.app(services=[bench, flow])
