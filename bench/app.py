"""Benchmark services. Written against restate-sdk's API: `import wakeful as restate`."""

from __future__ import annotations

import wakeful as restate

bench = restate.Service("Bench")


@bench.handler()
async def echo(ctx: restate.Context, value: str) -> str:
    """Return the input: the cost of a call with no durable step."""
    return value


@bench.handler()
async def awakeable(ctx: restate.Context) -> str:
    """Create an awakeable, hand its id out in a durable step, wait for it.

    The first awakeable of an invocation has signal index 17, so a client that knows the
    invocation id can derive the awakeable id itself; the step stands for handing it out.
    """
    awakeable_id, result = ctx.awakeable(type_hint=str)
    await ctx.run("hand out", lambda: awakeable_id)
    return await result


app = restate.app(services=[bench])
