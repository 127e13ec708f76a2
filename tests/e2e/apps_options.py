"""The application the handler-option tests serve (`wakeful serve tests/e2e/apps_options.py`).

This module must stay importable by the server on its own: it imports nothing from `tests`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import wakeful as restate
from wakeful import Context, Service
from wakeful.extensions import contextvar, current_context

APP = f"{__file__}:app"

entered: list[str] = []  # the order the managers were entered in, in this server process


@contextvar
@asynccontextmanager
async def session() -> AsyncIterator[str]:
    """A per-attempt resource whose value the handler reads through `session.value`."""
    entered.append("service")
    yield "session-1"
    entered.append("service-exit")


@asynccontextmanager
async def handler_level() -> AsyncIterator[None]:
    entered.append("handler")
    yield


managed = Service("Managed", invocation_context_managers=[session])


@managed.handler(invocation_context_managers=[handler_level])
async def inside(ctx: Context) -> dict[str, Any]:
    """Reports what the context managers set up around this attempt."""
    seen = list(entered)
    entered.clear()
    return {
        "session": session.value,
        "current_context_is_ctx": current_context() is ctx,
        "entered": seen,
    }


@managed.handler()
async def after(ctx: Context) -> list[str]:
    """What ran since the last handler (the previous attempt's managers exited)."""
    seen = list(entered)
    entered.clear()
    return seen


stuck = Service("Stuck")
step_runs: dict[str, int] = {}


@stuck.handler(abort_timeout=timedelta(milliseconds=300), inactivity_timeout=timedelta(0))
async def slow_step(ctx: Context, tag: str) -> int:
    """A step that hangs on its first try: the abort timeout ends that attempt, the retry runs
    the step again and it returns how many times it ran."""

    async def step() -> int:
        step_runs[tag] = step_runs.get(tag, 0) + 1
        if step_runs[tag] == 1:
            await asyncio.sleep(60)  # not durable: the attempt cannot suspend meanwhile
        return step_runs[tag]

    return await ctx.run("step", step)


app = restate.app(services=[managed, stuck])
