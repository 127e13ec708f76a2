"""The handlers whose recorded journals are kept under `tests/golden/` (see `record.py`).

Between them they make every kind of command a handler can make in-process: steps, awakeables,
timers, calls and sends, state reads and writes, durable promises, combinators. Changing what
one of them records makes `test_golden.py` fail: record again (and review the diff) only when
the change is meant.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import wakeful as restate
from wakeful import (
    Context,
    ObjectContext,
    Service,
    VirtualObject,
    Workflow,
    WorkflowContext,
    WorkflowSharedContext,
)

APP = f"{__file__}:app"
OUTBOX_ENV = "WAKEFUL_GOLDEN_OUTBOX"  # where handlers hand out awakeable ids while recording


def _hand_out(invocation_id: str, awakeable_id: str) -> str:
    outbox = os.environ.get(OUTBOX_ENV)
    if outbox:
        tmp = Path(outbox) / f"{invocation_id}.tmp"
        tmp.write_text(awakeable_id)
        tmp.replace(Path(outbox) / invocation_id)
    return awakeable_id


golden = Service("Golden")


@golden.handler()
async def greet(ctx: Context, name: str) -> str:
    """The callee of `approval`."""
    return f"hello {name}"


@golden.handler()
async def approval(ctx: Context, doc: str) -> dict[str, Any]:
    """Awakeable raced against a timer, a call, a send, steps gathered and a signal sent."""
    review_id, review = ctx.awakeable(type_hint=str)
    await ctx.run("hand out", lambda: _hand_out(ctx.request().id, review_id))
    greeting = await ctx.service_call(greet, doc)
    ctx.service_send(greet, "later", send_delay=timedelta(milliseconds=10))
    match await restate.select(review=review, timeout=ctx.sleep(timedelta(days=1))):
        case ["review", verdict]:
            outcome = verdict
        case _:
            outcome = "timed out"
    first, second = ctx.run("first", lambda: 1), ctx.run("second", lambda: 2)
    await restate.gather(first, second)
    total = await first + await second
    ctx.awakeable(type_hint=str)  # allocated (signal 18), never awaited
    ctx.resolve_awakeable(str(review_id), "late")  # already resolved: changes nothing
    done, _ = await restate.wait_completed(ctx.sleep(timedelta(milliseconds=1), "nap"))
    return {"greeting": greeting, "outcome": outcome, "total": total, "done": len(done)}


cart = VirtualObject("GoldenCart")


@cart.handler()
async def checkout(ctx: ObjectContext, item: str) -> dict[str, Any]:
    """State reads (concurrent ones included), writes, clears, and a step."""
    items = await ctx.get("items", type_hint=list[str]) or []
    ctx.set("items", [*items, item])
    count, keys = await asyncio.gather(ctx.get("count", type_hint=int), ctx.state_keys())
    ctx.set("count", (count or 0) + 1)
    ctx.set("temp", True)
    ctx.clear("temp")
    receipt = await ctx.run("receipt", lambda: f"receipt-{len(items) + 1}")
    return {"items": await ctx.get("items"), "keys": keys, "receipt": receipt}


@cart.handler()
async def empty(ctx: ObjectContext) -> list[str]:
    """clear_all, and the keys left."""
    ctx.clear_all()
    return await ctx.state_keys()


flow = Workflow("GoldenFlow")


@flow.main(name="run")
async def flow_run(ctx: WorkflowContext, order: str) -> dict[str, Any]:
    """Peek and await a durable promise, then complete another one."""
    ctx.set("status", "waiting")
    peeked = await ctx.promise("approval", type_hint=str).peek()
    verdict = await ctx.promise("approval", type_hint=str).value()
    ctx.set("status", verdict)
    await ctx.promise("shipped", type_hint=str).resolve(order)
    return {"order": order, "peeked": peeked, "verdict": verdict}


@flow.handler()
async def approve(ctx: WorkflowSharedContext, verdict: str) -> str:
    """Resolve the run's promise."""
    await ctx.promise("approval", type_hint=str).resolve(verdict)
    return "approved"


app = restate.app([golden, cart, flow])
