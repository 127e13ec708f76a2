"""Property: any journal recorded live replays to the same commands.

Hypothesis writes small handler programs (steps, state reads and writes, concurrent reads,
awakeables, timers, `gather` and `select` over durable futures), runs each as an invocation of
a virtual object with inactivity timeout 0 (every await that cannot go on suspends, so each
attempt replays all the previous ones recorded), completes what the attempt waits on in an order
hypothesis picks, and finally replays the whole journal once more: no attempt may fail, and the
last replay must journal nothing new and return the same output.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.vm.harness import MemoryEngine

import wakeful as restate
from wakeful import ObjectContext, RestateDurableFuture, VirtualObject
from wakeful.engine.events import AttemptCompleted, AttemptSuspended
from wakeful.engine.model import Target
from wakeful.journal.entries import (
    CompletionNotification,
    OutputCommand,
    Result,
    SignalNotification,
)

Op = list[Any]  # ["run", n] | ["get", k] | ["set", k, v] | ["reads", [...]] | ...

prop = VirtualObject("Prop")


def _future(ctx: ObjectContext, item: Op) -> RestateDurableFuture[Any]:
    match item:
        case ["run", n]:
            return ctx.run(f"step-{n}", lambda: n * 10)
        case ["awake"]:
            return ctx.awakeable()[1]
        case _:
            return ctx.sleep(timedelta(milliseconds=1))


@prop.handler()
async def program(ctx: ObjectContext, ops: list[Op]) -> list[Any]:
    """Interpret `ops`; return everything the handler observed."""
    seen: list[Any] = []
    for op in ops:
        match op:
            case ["run", n]:
                seen.append(await ctx.run(f"step-{n}", lambda n=n: n * 10))
            case ["get", key]:
                seen.append(await ctx.get(key))
            case ["set", key, value]:
                ctx.set(key, value)
            case ["clear", key]:
                ctx.clear(key)
            case ["clear_all"]:
                ctx.clear_all()
            case ["reads", group]:  # positions taken now, values awaited together
                reads: list[Awaitable[Any]] = []
                for item in group:
                    if item[0] == "get":
                        reads.append(ctx.get(item[1]))
                    elif item[0] == "keys":
                        reads.append(ctx.state_keys())
                    else:
                        ctx.set(item[1], item[2])
                seen.append(list(await asyncio.gather(*reads)))
            case ["gather", items]:
                futures = [_future(ctx, item) for item in items]
                await restate.gather(*futures)
                seen.append([await f for f in futures])
            case ["select", items]:
                named = {f"f{i}": _future(ctx, item) for i, item in enumerate(items)}
                seen.append(await restate.select(**named))
            case single:
                seen.append(await _future(ctx, single))
    return seen


APP = restate.app([prop])

KEYS = st.sampled_from(["a", "b", "c"])
DURABLE = st.one_of(
    st.tuples(st.just("run"), st.integers(0, 9)).map(list),
    st.just(["awake"]),
    st.just(["sleep"]),
)
READ = st.one_of(
    st.tuples(st.just("get"), KEYS).map(list),
    st.just(["keys"]),
    st.tuples(st.just("set"), KEYS, st.integers(0, 99)).map(list),
)
# Concurrent reads are where positions and loads race: they get a larger share of the programs.
CONCURRENT_READS = st.tuples(st.just("reads"), st.lists(READ, min_size=2, max_size=4)).map(list)
OPS = st.lists(
    st.one_of(
        CONCURRENT_READS,
        CONCURRENT_READS,
        CONCURRENT_READS,
        DURABLE,
        st.tuples(st.just("get"), KEYS).map(list),
        st.tuples(st.just("set"), KEYS, st.integers(0, 99)).map(list),
        st.tuples(st.just("clear"), KEYS).map(list),
        st.just(["clear_all"]),
        st.tuples(st.just("gather"), st.lists(DURABLE, min_size=1, max_size=3)).map(list),
        st.tuples(st.just("select"), st.lists(DURABLE, min_size=1, max_size=3)).map(list),
    ),
    max_size=8,
)
STATE = st.dictionaries(KEYS, st.integers(0, 99).map(lambda v: json.dumps(v).encode()))


# Storage that answers concurrent loads in reverse order (the first one started finishes last),
# as a connection pool may: positions must not depend on it.
REVERSED_LOADS = [0.004, 0.002, 0.0]


async def _record(ops: list[Op], state: dict[str, bytes], data: st.DataObject) -> MemoryEngine:
    """Run the program to completion, completing what it waits on in a drawn order."""
    body = json.dumps(ops).encode()
    engine = MemoryEngine(APP, Target("Prop", "program", "k"), body, state, REVERSED_LOADS)
    for _ in range(60):
        ended = await engine.attempt()
        if isinstance(ended, AttemptCompleted):
            return engine
        assert isinstance(ended, AttemptSuspended), ended  # never a mismatch (570)
        waiting = ended.waiting
        choices = [("c", c) for c in waiting.completion_ids]
        choices += [("s", s) for s in waiting.signal_indexes if s != 1]
        kind, number = data.draw(st.sampled_from(sorted(choices)), "completes")
        if kind == "c":  # a timer fires (steps complete inside the attempt)
            engine.add(CompletionNotification(number, Result(value=b"")))
        else:
            engine.add(SignalNotification(number, Result(value=json.dumps(number).encode())))
    raise AssertionError("the program did not complete in 60 attempts")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=OPS, state=STATE, data=st.data())
def test_journal_recorded_live_replays_to_the_same_commands(
    ops: list[Op], state: dict[str, bytes], data: st.DataObject
) -> None:
    """Every attempt replays its predecessors' journal without a mismatch, and a replay of the
    complete journal journals nothing new and returns the same output."""

    async def scenario() -> None:
        live = await _record(ops, dict(state), data)
        output = live.journal[-1]
        replay = MemoryEngine(APP, Target("Prop", "program", "k"), load_delays=REVERSED_LOADS)
        replay.journal = live.journal[:-1]
        ended = await replay.attempt()
        assert isinstance(ended, AttemptCompleted), ended
        assert ended.entries == []
        assert isinstance(output, OutputCommand)
        assert output.result == ended.result
        seen = json.loads(output.result.value or b"null")
        expected = _state_model(ops, state)
        assert len(seen) == len(expected)
        for got, want in zip(seen, expected, strict=True):
            assert want is _DURABLE or got == want  # reads see the writes made before them

    asyncio.run(scenario())


_DURABLE = object()  # a value the state model does not predict (a step, an awakeable, a timer)


def _state_model(ops: list[Op], initial: dict[str, bytes]) -> list[Any]:
    """What the program's state reads must observe, run sequentially on a plain dict."""
    state = {k: json.loads(v) for k, v in initial.items()}
    seen: list[Any] = []

    def apply(op: Op) -> Any:
        match op:
            case ["get", key]:
                return state.get(key)
            case ["keys"]:
                return sorted(state)
            case ["set", key, value]:
                state[key] = value
            case ["clear", key]:
                state.pop(key, None)
            case ["clear_all"]:
                state.clear()
        return None

    for op in ops:
        if op[0] == "reads":
            values = [apply(item) for item in op[1]]
            seen.append([v for item, v in zip(op[1], values, strict=True) if item[0] != "set"])
        elif op[0] == "get":
            seen.append(apply(op))
        elif op[0] in ("set", "clear", "clear_all"):
            apply(op)
        else:
            seen.append(_DURABLE)
    return seen
