"""Failures of the replay machine latch: a handler cannot swallow its way to completion."""

from __future__ import annotations

import contextlib

from tests.vm.harness import MemoryEngine

import wakeful as restate
from wakeful import Context, Service, TerminalError
from wakeful.engine.events import AttemptCompleted, AttemptFailed, AttemptSuspended
from wakeful.engine.model import Target
from wakeful.journal.entries import Result, SignalNotification

changing = Service("Changing")
VERSION = {"step": "charge"}  # what the handler's code journals; tests change it between attempts


@changing.handler()
async def swallow_exception(ctx: Context) -> str:
    """Waits for an awakeable, then makes a step; a mismatch is 'handled' by except Exception."""
    _, approval = ctx.awakeable()
    await approval
    with contextlib.suppress(Exception):
        await ctx.run(VERSION["step"], lambda: "ran")
    return "completed anyway"


@changing.handler()
async def swallow_everything(ctx: Context) -> str:
    """Same, but catches BaseException and then keeps using the context."""
    _, approval = ctx.awakeable()
    await approval
    with contextlib.suppress(BaseException):
        await ctx.run(VERSION["step"], lambda: "ran")
    with contextlib.suppress(BaseException):
        await ctx.run("after", lambda: "ran")
    return "completed anyway"


@changing.handler()
async def turn_into_terminal(ctx: Context) -> str:
    """Converts whatever happened into a TerminalError, which would end the invocation."""
    _, approval = ctx.awakeable()
    await approval
    try:
        await ctx.run(VERSION["step"], lambda: "ran")
    except BaseException as e:
        raise TerminalError(f"gave up: {e}") from None
    return "unreachable"


@changing.handler()
async def swallow_suspension(ctx: Context) -> str:
    """Catches its own suspension and returns: it must still suspend."""
    _, approval = ctx.awakeable()
    try:
        await approval
    except BaseException:
        return "pretended"
    return "resolved"


APP = restate.app([changing])


async def diverge(handler: str) -> AttemptFailed | AttemptCompleted | AttemptSuspended:
    """First attempt journals step 'charge' after the awakeable; the second runs 'refund'."""
    engine = MemoryEngine(APP, Target("Changing", handler))
    VERSION["step"] = "charge"
    assert isinstance(await engine.attempt(), AttemptSuspended)
    engine.add(SignalNotification(17, Result(value=b'"yes"')))
    first = await engine.attempt()  # runs the step live and completes
    assert isinstance(first, AttemptCompleted), first
    engine.journal.pop()  # drop the output, as if the completion was lost: it runs again
    VERSION["step"] = "refund"
    try:
        return await engine.attempt()
    finally:
        VERSION["step"] = "charge"


async def test_mismatch_swallowed_by_except_exception_fails_with_570() -> None:
    """`except Exception` does not catch the mismatch, and the attempt fails with 570."""
    ended = await diverge("swallow_exception")
    assert isinstance(ended, AttemptFailed), ended
    assert ended.failure.code == 570
    assert ended.entries == []  # nothing of the diverged attempt is journaled
    assert "Run(name='charge')" in ended.failure.message
    assert "name: recorded 'charge', handler 'refund'" in ended.failure.message


async def test_mismatch_swallowed_by_except_base_exception_still_fails_with_570() -> None:
    """Even a handler that catches BaseException and goes on returning fails its attempt."""
    ended = await diverge("swallow_everything")
    assert isinstance(ended, AttemptFailed), ended
    assert ended.failure.code == 570


async def test_mismatch_turned_into_terminal_error_still_fails_with_570() -> None:
    """A TerminalError raised after a mismatch does not end the invocation: 570 wins."""
    ended = await diverge("turn_into_terminal")
    assert isinstance(ended, AttemptFailed), ended
    assert ended.failure.code == 570


async def test_swallowed_suspension_still_suspends() -> None:
    """A handler that catches its suspension and returns is suspended, not completed."""
    engine = MemoryEngine(APP, Target("Changing", "swallow_suspension"))
    ended = await engine.attempt()
    assert isinstance(ended, AttemptSuspended), ended
    assert ended.waiting.signal_indexes == (1, 17)
