"""The application the scope and limit-key tests serve (`wakeful serve tests/e2e/apps_scopes.py`).

This module must stay importable by the server on its own: it imports nothing from `tests`.
"""

from __future__ import annotations

from typing import Any

import wakeful as restate
from wakeful import Context, ObjectContext, Service, VirtualObject, Workflow, WorkflowContext

APP = f"{__file__}:app"

tally = VirtualObject("Tally")


def _request_info(ctx: Context) -> dict[str, Any]:
    request = ctx.request()
    return {
        "scope": request.scope,
        "limit_key": request.limit_key,
        "idempotency_key": request.idempotency_key,
        "id": request.id,
    }


@tally.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    """Adds `n` to this object's total (state is per scope and key)."""
    total = (await ctx.get("total", type_hint=int) or 0) + n
    ctx.set("total", total)
    return total


@tally.handler()
async def info(ctx: ObjectContext) -> dict[str, Any]:
    """What the invocation knows about itself: its key, scope and limit key."""
    return {"key": ctx.key(), **_request_info(ctx)}


echo = Service("Echo")


@echo.handler()
async def whoami(ctx: Context) -> dict[str, Any]:
    """The scope, limit key and idempotency key this invocation was submitted with."""
    return _request_info(ctx)


signup = Workflow("Signup")


@signup.main()
async def run(ctx: WorkflowContext, name: str) -> dict[str, Any]:
    """A workflow run: once per (scope, key)."""
    return {"key": ctx.key(), "name": name, **_request_info(ctx)}


router = Service("Router")


@router.handler()
async def in_scopes(ctx: Context, key: str) -> list[Any]:
    """Calls the same object key in two scopes and unscoped, and a scoped service."""
    first = await ctx.scope("t1").object_call(add, key, 1)
    second = await ctx.scope("t1").object_call(add, key, 1, limit_key="tenant/user")
    other = await ctx.scope("t2").object_call(add, key, 5)
    unscoped = await ctx.object_call(add, key, 10)
    seen = await ctx.scope("t1").object_call(info, key, None, limit_key="lk")
    raw = await ctx.generic_call("Echo", "whoami", b"", scope="t3", limit_key="a/b")
    return [first, second, other, unscoped, seen, raw.decode()]


@router.handler()
async def send_in_scope(ctx: Context, key: str) -> str:
    """Sends to an object and a workflow within scope t1; returns the workflow's id."""
    ctx.scope("t1").object_send(add, key, 3)
    handle = ctx.scope("t1").workflow_send(run, key, "from-router")
    return await handle.invocation_id()


app = restate.app(services=[tally, echo, signup, router])
