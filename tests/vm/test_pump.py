"""The asyncio pump around the replay machine: waking waiters, the inactivity timeout."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from wakeful.errors import SuspendedException
from wakeful.journal.entries import Entry, InputCommand, Result, SignalNotification
from wakeful.journal.ids import InvocationId
from wakeful.sdk.attempt_context import AttemptContext
from wakeful.vm.machine import ReplayMachine, State
from wakeful.vm.pump import AttemptPump


def context(timeout: float) -> tuple[AttemptContext, list[Entry]]:
    sent: list[Entry] = []
    machine = ReplayMachine("Svc/handler")
    machine.start([InputCommand([], b"")])
    pump = AttemptPump(machine, send=sent.extend, inactivity_timeout=timeout)
    return AttemptContext(pump, InvocationId(1, 2), None), sent


async def test_one_delivery_wakes_every_concurrent_await() -> None:
    """Two branches awaiting different awakeables (plain asyncio.gather) both resume as soon as
    their signals arrive, well before the inactivity timeout."""
    ctx, _ = context(timeout=5)
    _, first = ctx.awakeable(type_hint=str)
    _, second = ctx.awakeable(type_hint=str)
    both = asyncio.gather(first, second)
    await asyncio.sleep(0.01)
    started = time.monotonic()
    ctx.pump.deliver(1, [SignalNotification(17, Result(value=b'"a"'))])
    ctx.pump.deliver(2, [SignalNotification(18, Result(value=b'"b"'))])
    assert await asyncio.wait_for(both, 2) == ["a", "b"]
    assert time.monotonic() - started < 1


async def test_inactivity_timeout_suspends_and_latches() -> None:
    """With nothing delivered for the inactivity timeout, the await suspends on what it waits
    for, and the machine stays suspended."""
    ctx, _ = context(timeout=0.05)
    _, future = ctx.awakeable(type_hint=str)
    with pytest.raises(SuspendedException):
        await asyncio.wait_for(future, 2)
    machine = ctx.machine
    assert machine.state is State.CLOSED
    assert machine.waiting is not None
    assert machine.waiting.signal_indexes == (1, 17)
    with pytest.raises(SuspendedException):
        ctx.run("after", lambda: 1)


async def test_buffered_commands_are_sent_before_waiting() -> None:
    """Commands made before a long await are sent to the engine (flushed) before it waits."""
    ctx, sent = context(timeout=5)
    task = asyncio.ensure_future(ctx.sleep(timedelta(seconds=60)))
    await asyncio.sleep(0.01)
    assert [type(e).__name__ for e in sent] == ["SleepCommand"]
    assert not task.done()  # flushed, now waiting for the timer (or the inactivity timeout)
    task.cancel()
