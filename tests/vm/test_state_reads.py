"""State reads of keyed handlers: positions taken at the call site, one shared load per attempt,
read-your-writes across concurrent branches of one handler."""

from __future__ import annotations

import asyncio

from tests.vm.harness import MemoryEngine, commands_of

import wakeful as restate
from wakeful import ObjectContext, VirtualObject
from wakeful.engine.events import AttemptCompleted, AttemptFailed
from wakeful.engine.model import Target
from wakeful.journal.entries import GetStateCommand, GetStateKeysCommand, SetStateCommand

counter = VirtualObject("Reads")


@counter.handler()
async def two_gets(ctx: ObjectContext) -> list[str | None]:
    """Two concurrent first reads."""
    x, y = await asyncio.gather(ctx.get("x", type_hint=str), ctx.get("y", type_hint=str))
    return [x, y]


@counter.handler()
async def keys_and_get(ctx: ObjectContext) -> list[object]:
    """state_keys and get started together."""
    keys, x = await asyncio.gather(ctx.state_keys(), ctx.get("x", type_hint=str))
    return [keys, x]


@counter.handler()
async def branches(ctx: ObjectContext) -> list[str | None]:
    """One branch reads while another writes then reads; a later read sees the write."""

    async def reader() -> str | None:
        return await ctx.get("x", type_hint=str)

    async def writer() -> str | None:
        await asyncio.sleep(0)  # let the reader's load start first
        ctx.set("x", "new")
        return await ctx.get("x", type_hint=str)

    before, after = await asyncio.gather(reader(), writer())
    await ctx.get("other")  # a read after both branches: the load has finished
    return [before, after, await ctx.get("x", type_hint=str)]


@counter.handler()
async def unawaited(ctx: ObjectContext) -> str:
    """A read that is never awaited still takes its position and records its value."""
    ctx.get("x")
    return "done"


@counter.handler()
async def failing_load(ctx: ObjectContext) -> str:
    """The handler swallows the failed load's error; the attempt must fail anyway."""
    try:
        await ctx.get("x")
    except Exception:
        return "swallowed"
    return "read"


APP = restate.app([counter])


def engine(handler: str, **kwargs: object) -> MemoryEngine:
    return MemoryEngine(APP, Target("Reads", handler, "k"), **kwargs)  # type: ignore[arg-type]


async def test_concurrent_gets_whose_loads_finish_in_reverse_order_replay() -> None:
    """gather(get x, get y) records x then y even when a slow storage would answer y first;
    replaying the journal matches and returns the recorded values."""
    live = engine("two_gets", state={"x": b'"1"', "y": b'"2"'}, load_delays=[0.05, 0.0])
    first = await live.attempt()
    assert isinstance(first, AttemptCompleted), first
    assert first.result.value == b'["1", "2"]'
    assert commands_of(live.journal)[1:3] == [
        GetStateCommand("x", b'"1"'),
        GetStateCommand("y", b'"2"'),
    ]
    assert live.loads == 1  # one shared load for both first reads

    replay = engine("two_gets", state={}, load_delays=[0.05, 0.0])
    replay.journal = live.journal[:-1]  # everything but the output: the handler runs again
    again = await replay.attempt()
    assert isinstance(again, AttemptCompleted), again
    assert again.result == first.result
    assert replay.loads == 0  # replayed reads come from the journal


async def test_state_keys_and_get_take_positions_in_call_order() -> None:
    """state_keys() then get(): positions in call order, one load, values as loaded."""
    live = engine("keys_and_get", state={"x": b'"1"', "b": b"2"}, load_delays=[0.05])
    ended = await live.attempt()
    assert isinstance(ended, AttemptCompleted), ended
    assert commands_of(live.journal)[1:3] == [
        GetStateKeysCommand(["b", "x"]),
        GetStateCommand("x", b'"1"'),
    ]
    assert live.loads == 1


async def test_read_your_writes_across_concurrent_branches() -> None:
    """A set made while the shared load is in flight is seen by the reads after it and is not
    overwritten by the load; the read started before the set sees the stored value."""
    live = engine("branches", state={"x": b'"old"'}, load_delays=[0.05, 0.0])
    ended = await live.attempt()
    assert isinstance(ended, AttemptCompleted), ended
    assert ended.result.value == b'["old", "new", "new"]'
    assert live.loads == 1
    assert commands_of(live.journal)[1:4] == [
        GetStateCommand("x", b'"old"'),
        SetStateCommand("x", b'"new"'),
        GetStateCommand("x", b'"new"'),
    ]


async def test_unawaited_read_is_journaled_with_its_value() -> None:
    """A get never awaited keeps its position; the attempt waits for the load before ending."""
    live = engine("unawaited", state={"x": b'"v"'}, load_delays=[0.02])
    ended = await live.attempt()
    assert isinstance(ended, AttemptCompleted), ended
    assert commands_of(live.journal)[1] == GetStateCommand("x", b'"v"')


async def test_failed_load_fails_the_attempt_even_when_swallowed() -> None:
    """A state load that raises fails the attempt (retried), whatever the handler caught."""
    live = engine("failing_load")

    async def broken(key: object) -> dict[str, bytes]:
        raise OSError("disk gone")

    live._load_state = broken  # type: ignore[method-assign, assignment]  # a failing storage
    ended = await live.attempt()
    assert isinstance(ended, AttemptFailed), ended
    assert ended.failure.code == 500
    assert "disk gone" in ended.failure.message
