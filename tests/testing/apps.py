"""Handlers the harness tests drive: approvals racing long timeouts, sleeps between steps."""

from __future__ import annotations

import itertools
from datetime import timedelta

import wakeful as restate

approvals = restate.Service("Approvals")


@approvals.handler()
async def three_days(ctx: restate.Context, doc: str) -> str:
    """Waits for a decision on `doc` for three days."""
    _, decision = ctx.awakeable(type_hint=str)
    match await restate.select(decision=decision, timeout=ctx.sleep(timedelta(days=3))):
        case ["decision", verdict]:
            return f"{doc}: {verdict}"
        case _:
            return f"{doc}: timed out"


@approvals.handler()
async def described(ctx: restate.Context, amount: int) -> bool:
    """Waits for a described decision on an expense."""
    _, decision = ctx.awakeable(type_hint=bool, description=f"Approve expense of {amount} EUR")
    return await decision


@approvals.handler()
async def by_signal(ctx: restate.Context) -> str:
    """Waits for the named signal `verdict`, or a week."""
    verdict = ctx.signal("verdict", type_hint=str)
    match await restate.select(verdict=verdict, timeout=ctx.sleep(timedelta(days=7))):
        case ["verdict", value]:
            return value
        case _:
            return "no verdict"


@approvals.handler()
async def thirty_days(ctx: restate.Context, doc: str) -> str:
    """Waits for a decision on `doc` for thirty days."""
    _, decision = ctx.awakeable(type_hint=str)
    match await restate.select(decision=decision, timeout=ctx.sleep(timedelta(days=30))):
        case ["decision", verdict]:
            return f"{doc}: {verdict}"
        case _:
            return f"{doc}: timed out"


steps = restate.Service("Steps")


@steps.handler()
async def hour_apart(ctx: restate.Context) -> float:
    """Two steps an hour apart; the seconds between them as `ctx.time()` saw them."""
    before = await ctx.time()
    await ctx.sleep(timedelta(hours=1))
    after = await ctx.time()
    return after - before


@steps.handler()
async def sleep_minutes(ctx: restate.Context, minutes: int) -> int:
    """Sleeps `minutes`, then answers them."""
    await ctx.sleep(timedelta(minutes=minutes))
    return minutes


alarms = restate.VirtualObject("Alarms")


@alarms.handler()
async def ring(ctx: restate.ObjectContext, label: str) -> None:
    """Appends `label` to the key's log."""
    log = await ctx.get("log", type_hint=list[str]) or []
    ctx.set("log", [*log, label])


@alarms.handler(kind="shared")
async def log(ctx: restate.ObjectSharedContext) -> list[str]:
    """The labels rung so far, in order."""
    return await ctx.get("log", type_hint=list[str]) or []


@steps.handler()
async def alarm_after(ctx: restate.Context, hours: int) -> None:
    """Rings the `clock` alarm after `hours`."""
    await ctx.sleep(timedelta(hours=hours))
    await ctx.object_call(ring, key="clock", arg=f"{hours}h")


_runs = itertools.count()


@steps.handler()
async def nondeterministic(ctx: restate.Context) -> str:
    """Takes a different step on every execution: a replay cannot match its journal."""
    name = f"step-{next(_runs)}"
    await ctx.run_typed(name, lambda: name)
    await ctx.sleep(timedelta(minutes=1))
    return name


app = restate.app([approvals, steps, alarms])
