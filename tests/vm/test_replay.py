"""The replay machine and handler context, driven directly with recorded journals."""

from __future__ import annotations

import asyncio

import pytest

import wakeful as restate
from wakeful.errors import JournalMismatchError, SuspendedException, TerminalError
from wakeful.journal.entries import (
    AwakeableCommand,
    CompletionNotification,
    Entry,
    Failure,
    InputCommand,
    Result,
    RunCommand,
    SignalNotification,
)
from wakeful.journal.ids import AwakeableId, InvocationId
from wakeful.sdk.attempt_context import AttemptContext
from wakeful.vm.machine import ReplayMachine
from wakeful.vm.pump import AttemptPump

IID = InvocationId(7, 42)


def attempt(journal: list[Entry], timeout: float = 0) -> tuple[AttemptContext, list[Entry]]:
    flushed: list[Entry] = []
    machine = ReplayMachine("Svc/handler")
    machine.start(journal)
    pump = AttemptPump(machine, send=flushed.extend, inactivity_timeout=timeout)
    return AttemptContext(pump, IID, None), flushed


def ok(value: bytes) -> Result:
    return Result(value=value)


INPUT = InputCommand([], b"")


async def test_recorded_step_is_not_executed_again() -> None:
    """A ctx.run whose completion is in the journal returns the recorded value without running."""
    ctx, flushed = attempt([INPUT, RunCommand("step", 1), CompletionNotification(1, ok(b"41"))])
    calls: list[int] = []
    value = await ctx.run("step", lambda: calls.append(1) or 99)
    assert value == 41
    assert calls == []
    assert flushed == []


async def test_step_recorded_without_completion_runs_again() -> None:
    """A step journaled but not completed before a crash is executed (at least once)."""
    ctx, flushed = attempt([INPUT, RunCommand("step", 1)], timeout=1)
    flushed_before = len(flushed)
    future = ctx.run("step", lambda: 5)
    task = asyncio.ensure_future(future)
    await asyncio.sleep(0.01)
    assert flushed[flushed_before:] == [CompletionNotification(1, ok(b"5"))]
    ctx.pump.deliver(2, flushed[flushed_before:])
    assert await task == 5


async def test_mismatch_names_handler_index_and_both_commands() -> None:
    """A replay that does something else than the journal raises a journal mismatch (570)."""
    ctx, _ = attempt([INPUT, RunCommand("charge", 1), CompletionNotification(1, ok(b"1"))])
    with pytest.raises(JournalMismatchError) as info:
        ctx.run("refund", lambda: 1)
    error = info.value
    assert error.code == 570
    assert error.index == 1
    assert "Svc/handler" in str(error)
    assert "Run(name='charge')" in str(error)
    assert "Run(name='refund')" in str(error)


async def test_await_without_notification_suspends_on_its_signal() -> None:
    """With inactivity timeout 0, awaiting an open awakeable suspends on signal 17 and CANCEL."""
    ctx, flushed = attempt([INPUT])
    awakeable_id, future = ctx.awakeable(type_hint=str)
    assert awakeable_id == str(AwakeableId(IID, 17))
    # Journaled and flushed at once, before the id can leave the handler.
    assert flushed == [AwakeableCommand(17, None, b'{"type": "string"}')]
    ctx.pump.deliver(1, flushed)  # the engine hands the durable entries back
    with pytest.raises(SuspendedException):
        await future
    assert ctx.machine.waiting is not None
    assert ctx.machine.waiting.signal_indexes == (1, 17)  # cancellation can always wake it


async def test_first_completion_wins() -> None:
    """Two completions of one awakeable: the first in journal order is the value."""
    ctx, _ = attempt(
        [INPUT, SignalNotification(17, ok(b'"a"')), SignalNotification(17, ok(b'"b"'))]
    )
    _, future = ctx.awakeable(type_hint=str)
    assert await future == "a"


async def test_rejection_raises_terminal_error_with_code() -> None:
    """A rejected awakeable raises TerminalError with the rejection's message and code."""
    ctx, _ = attempt([INPUT, SignalNotification(17, Result(failure=Failure(403, "nope")))])
    _, future = ctx.awakeable()
    with pytest.raises(TerminalError) as info:
        await future
    assert (info.value.message, info.value.status_code) == ("nope", 403)


@pytest.mark.parametrize(("first", "winner"), [(17, "a"), (18, "b")])
async def test_select_picks_journal_order(first: int, winner: str) -> None:
    """select() picks the awakeable whose completion came first in the journal, on every replay."""
    second = 35 - first
    journal: list[Entry] = [
        INPUT,
        SignalNotification(first, ok(b'"first"')),
        SignalNotification(second, ok(b'"second"')),
    ]
    for _ in range(2):  # replaying twice gives the same branch
        ctx, _ = attempt(journal)
        _, a = ctx.awakeable(type_hint=str)
        _, b = ctx.awakeable(type_hint=str)
        name, value = await restate.select(a=a, b=b)
        assert (name, value) == (winner, "first")


async def test_live_notification_resumes_waiting_handler() -> None:
    """An entry delivered while the handler waits (inactivity timeout > 0) completes its await."""
    ctx, _ = attempt([INPUT], timeout=5)
    _, future = ctx.awakeable(type_hint=str)
    task = asyncio.ensure_future(future)
    await asyncio.sleep(0.01)
    assert not task.done()
    ctx.pump.deliver(1, [SignalNotification(17, ok(b'"hi"'))])
    assert await asyncio.wait_for(task, 1) == "hi"


async def test_random_is_the_same_on_every_attempt() -> None:
    """ctx.random() and ctx.uuid() are seeded by the invocation: equal across attempts."""
    first, _ = attempt([INPUT])
    second, _ = attempt([INPUT])
    assert first.random().random() == second.random().random()
    assert first.uuid() == second.uuid()
