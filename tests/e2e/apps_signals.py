"""The application the named-signal tests serve (`wakeful serve tests/e2e/apps_signals.py`).

A test starts a handler with `/send`, which answers its invocation id, and then signals that
invocation by name: over the ingress (`/restate/invocation/{id}/signals/{name}/resolve`) or from
another handler (`ctx.resolve_signal`).

This module must stay importable by the server on its own: it imports nothing from `tests`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import wakeful as restate
from wakeful import Context, Service, TerminalError

APP = f"{__file__}:app"

waiter = Service("Waiter")


@waiter.handler()
async def approval(ctx: Context) -> Any:
    """Waits for the signal "approved"; a rejection ends it with [code, message]."""
    try:
        return await ctx.signal("approved", type_hint=str)
    except TerminalError as e:
        return [e.status_code, e.message]


@waiter.handler()
async def gated(ctx: Context, gate: str) -> Any:
    """Waits on the signal `gate` first, then reads the signal "value": whatever
    was delivered for "value" meanwhile is in the journal already."""
    await ctx.signal(gate)
    return await ctx.signal("value", type_hint=int)


@waiter.handler()
async def race(ctx: Context, timeout_ms: int) -> list[Any]:
    """The signal "go" against a durable timer."""
    match await restate.select(
        go=ctx.signal("go", type_hint=str), timeout=ctx.sleep(timedelta(milliseconds=timeout_ms))
    ):
        case ["go", value]:
            return ["go", value]
        case [name, _]:
            return [name, None]
    raise AssertionError("select answers [name, value]")


@waiter.handler()
async def both(ctx: Context) -> list[Any]:
    """Both signals "a" and "b", whatever their order (gather)."""
    a, b = ctx.signal("a", type_hint=int), ctx.signal("b", type_hint=int)
    await restate.gather(a, b)
    return [await a, await b]


sender = Service("Sender")


@sender.handler()
async def send(ctx: Context, request: dict[str, Any]) -> None:
    """Resolves or rejects signal `name` of invocation `to` (ctx.resolve/reject_signal)."""
    if "reject" in request:
        ctx.reject_signal(request["to"], request["name"], request["reject"], request["code"])
    else:
        ctx.resolve_signal(request["to"], request["name"], request["value"])


app = restate.app(services=[waiter, sender])
