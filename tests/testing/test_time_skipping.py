"""The in-process harness: long timers complete in milliseconds, advance() moves time by hand,
a restart keeps what was durable, and nondeterminism fails under always-replay."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from tests.testing.apps import (
    alarm_after,
    app,
    by_signal,
    described,
    hour_apart,
    log,
    nondeterministic,
    sleep_minutes,
    thirty_days,
    three_days,
)

import wakeful.testing
from wakeful.client import HttpError
from wakeful.engine.model import Status


async def test_three_day_timeout_takes_well_under_a_second() -> None:
    """A 3-day timeout race completes as soon as the test awaits the result."""
    async with wakeful.testing.start(app) as env:
        began = env.now()
        wall = time.monotonic()
        assert await env.client.service_call(three_days, arg="contract") == "contract: timed out"
        assert time.monotonic() - wall < 1.0
        assert env.now() - began >= timedelta(days=3)


async def test_thirty_day_timeout_takes_well_under_a_second() -> None:
    """A 30-day timeout race completes as fast as a 3-day one."""
    async with wakeful.testing.start(app) as env:
        began = env.now()
        wall = time.monotonic()
        assert await env.client.service_call(thirty_days, arg="lease") == "lease: timed out"
        assert time.monotonic() - wall < 1.0
        assert env.now() - began >= timedelta(days=30)


async def test_a_decision_in_time_wins_the_race() -> None:
    """Resolving before anyone awaits the result wins: time never jumps behind the test's back."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(three_days, arg="contract")
        await env.wait_for_suspension(handle.invocation_id)  # the deadline is set as it suspends
        (pending,) = await env.awakeables(handle.invocation_id)
        assert pending.target == "Approvals/three_days"
        assert pending.deadline is not None
        assert pending.deadline - env.now() > timedelta(days=2, hours=23)
        await env.resolve_awakeable(pending.id, "approved")
        result = await env.client.attach_invocation(handle.invocation_id)
        assert result == "contract: approved"


async def test_a_rejection_reaches_the_handler_as_terminal_error() -> None:
    """A rejected awakeable fails the waiting invocation with the rejection's message."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(three_days, arg="contract")
        (pending,) = await env.awakeables(handle.invocation_id)
        await env.reject_awakeable(pending.id, "insufficient documentation")
        with pytest.raises(HttpError) as failed:
            await env.client.attach_invocation(handle.invocation_id)
        assert "insufficient documentation" in str(failed.value)


async def test_ctx_time_sees_an_hour_pass_between_steps() -> None:
    """`ctx.time()` follows the virtual clock: an hour's sleep between two steps is an hour."""
    async with wakeful.testing.start(app) as env:
        wall = time.monotonic()
        elapsed = await env.client.service_call(hour_apart, arg=None)
        assert 3600 <= elapsed < 3600 + 60
        assert time.monotonic() - wall < 1.0


async def test_timers_of_many_invocations_fire_in_due_order() -> None:
    """Under skipping, timers of several invocations fire in the order they are due."""
    async with wakeful.testing.start(app) as env:
        hours = [5, 1, 4, 2, 3]
        handles = [await env.client.service_send(alarm_after, arg=h) for h in hours]
        for handle in handles:  # each result awaited: time jumps timer by timer
            await env.client.attach_invocation(handle.invocation_id)
        assert await env.client.object_call(log, key="clock", arg=None) == [
            "1h",
            "2h",
            "3h",
            "4h",
            "5h",
        ]


async def test_advance_moves_time_in_small_steps() -> None:
    """advance() fires a timer only once the clock has passed it."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(sleep_minutes, arg=10)
        await env.wait_for_suspension(handle.invocation_id)
        for _ in range(3):
            await env.advance(timedelta(minutes=3))
            assert await env.status(handle.invocation_id) == Status.SUSPENDED
        await env.advance(timedelta(minutes=1, seconds=1))
        assert await env.status(handle.invocation_id) == Status.COMPLETED
        assert await env.client.attach_invocation(handle.invocation_id) == 10


async def test_restart_on_the_same_store_mid_wait() -> None:
    """A restart in the middle of a wait loses nothing: the resolve completes the invocation."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(three_days, arg="contract")
        (pending,) = await env.awakeables(handle.invocation_id)
        await env.restart()
        assert await env.status(handle.invocation_id) == Status.SUSPENDED
        await env.resolve_awakeable(pending.id, "approved after restart")
        result = await env.client.attach_invocation(handle.invocation_id)
        assert result == "contract: approved after restart"


async def test_nondeterminism_fails_with_journal_mismatch() -> None:
    """Always-replay makes a handler that takes another step on replay fail with 570."""
    async with wakeful.testing.start(app, disable_retries=True) as env:
        with pytest.raises(HttpError) as failed:
            await env.client.service_call(nondeterministic, arg=None)
        assert failed.value.status_code == 570
        assert "journal mismatch" in str(failed.value)
        assert "step-0" in str(failed.value)


async def test_without_skipping_time_passes_only_by_advance() -> None:
    """With time_skipping=False a waiting result does not make the clock jump."""
    async with wakeful.testing.start(app, time_skipping=False) as env:
        call = asyncio.ensure_future(env.client.service_call(sleep_minutes, arg=5))
        await asyncio.sleep(0.3)
        assert not call.done()
        await env.advance(timedelta(minutes=5))
        assert await asyncio.wait_for(call, 5) == 5


async def test_awakeables_lists_the_description() -> None:
    """env.awakeables() reads the index of pending waits, description included."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(described, arg=1200)
        (pending,) = await env.awakeables(handle.invocation_id)
        assert pending.description == "Approve expense of 1200 EUR"
        assert pending.deadline is None
        await env.resolve_awakeable(pending.id, True)
        assert await env.client.attach_invocation(handle.invocation_id) is True


async def test_a_named_signal_resolves_the_wait() -> None:
    """env.signal() resolves a named signal; without one the week-long race times out."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(by_signal, arg=None)
        await env.wait_for_suspension(handle.invocation_id)
        await env.signal(handle.invocation_id, "verdict", "approved")
        assert await env.client.attach_invocation(handle.invocation_id) == "approved"
        assert await env.client.service_call(by_signal, arg=None) == "no verdict"


async def test_a_rejected_named_signal_fails_with_its_code() -> None:
    """env.reject_signal() fails the waiting handler with the rejection's message and code."""
    async with wakeful.testing.start(app) as env:
        handle = await env.client.service_send(by_signal, arg=None)
        await env.wait_for_suspension(handle.invocation_id)
        await env.reject_signal(handle.invocation_id, "verdict", "forbidden", code=403)
        with pytest.raises(HttpError) as failed:
            await env.client.attach_invocation(handle.invocation_id)
        assert failed.value.status_code == 403
        assert "forbidden" in str(failed.value)
