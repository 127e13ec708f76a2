"""The in-process application served beside the remote endpoint in the remote tests."""

from __future__ import annotations

import wakeful as restate
from wakeful import Context, Service

APP = f"{__file__}:app"

local = Service("LocalGreeter")


@local.handler()
async def greet(ctx: Context, name: str) -> str:
    """Answer a greeting (called by a remote handler)."""
    return f"hello {name}"


@local.handler()
async def resolve_remote(ctx: Context, req: dict[str, str]) -> None:
    """Resolve an awakeable that a remote handler waits on."""
    ctx.resolve_awakeable(req["id"], req["value"])


@local.handler()
async def call_remote(ctx: Context, n: int) -> str:
    """Call a remote virtual object and return its answer."""
    out = await ctx.generic_call("RemoteCounter", "add", key="from-local", arg=str(n).encode())
    return f"local got {out.decode()}"


app = restate.app(services=[local])
