"""The application the timer, combinator, call and cancellation tests serve, and its trace reader.

`wakeful serve tests/e2e/apps_timers.py:app` runs it; its handlers leave traces in the directory
named by `WAKEFUL_TEST_DIR`, one line per event, each appended with a single `write(2)` on an
`O_APPEND` descriptor so lines from concurrent writers never interleave:

- `steps.log`: `"{invocation id} {step} {unix time}"` each time a `ctx.run` body executes;
- `awakeables.log`: `"{invocation id} {label} {awakeable id}"` each time a step hands out an
  awakeable id (create awakeable -> a step hands the id out -> await);
- `selected.log`: `"{invocation id} {branch}"` each time an attempt of `Combinators/race` gets
  the answer of its `select` (outside any step: every replay that gets there appends a line);
- `calls.log`: `"{caller id} {callee id}"` each time an attempt learns the id of a call it made;
- `records.log`: `"{tag} {invocation id} {unix time}"` each time `Callee/record` runs its step;
- `wakeups.log`: `"{invocation id} {unix time}"` each time `Timers/doze` runs its step.

The lower half of this module is the test side: `Traces` reads those files.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import wakeful as restate
from wakeful import (
    Context,
    InvocationRetryPolicy,
    Service,
    TerminalError,
    Workflow,
    WorkflowContext,
    WorkflowSharedContext,
)

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_TEST_DIR"

# A failing attempt is not retried: the invocation ends with the failure at once.
NO_RETRIES = InvocationRetryPolicy(max_attempts=1, on_max_attempts="kill")


# -- the app side: writing traces ----------------------------------------------------------


def _append(file: str, line: str) -> None:
    fd = os.open(Path(os.environ[TRACES_ENV]) / file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def _step(ctx: Context, step: str) -> float:
    """The body of a counted step: leave a trace, return when it ran."""
    now = time.time()
    _append("steps.log", f"{ctx.request().id} {step} {now!r}")
    return now


async def _counted(ctx: Context, step: str) -> float:
    """Run a counted step; its result is when its body ran (first and only time)."""
    ran_at: float = await ctx.run(step, lambda: _step(ctx, step))
    return ran_at


async def _hand_out(ctx: Context, ids: dict[str, str]) -> None:
    """One step that hands out awakeable ids, `label -> id`, to the test."""

    def body() -> None:
        _step(ctx, "hand-out")
        for label, awakeable_id in ids.items():
            _append("awakeables.log", f"{ctx.request().id} {label} {awakeable_id}")

    await ctx.run("hand-out", body)


# -- Timers: durable sleeps and the approval-with-timeout pattern ---------------------------

timers = Service("Timers")


@timers.handler()
async def approval(ctx: Context, timeout_s: float) -> list[Any]:
    """Wait for an approval or `timeout_s` seconds, whichever comes first; `[branch, value]`."""
    approval_id, approved = ctx.awakeable()
    await _hand_out(ctx, {"approval": approval_id})
    timeout = ctx.sleep(timedelta(seconds=timeout_s))
    match await restate.select(approved=approved, timeout=timeout):
        case ["approved", verdict]:
            outcome = ["approved", verdict]
        case ["timeout", _]:
            outcome = ["timeout", None]
    await _counted(ctx, "after")
    return outcome


@timers.handler()
async def nap(ctx: Context, ms: int) -> int:
    """Sleep `ms` milliseconds (suspends with the server's inactivity timeout)."""
    await ctx.sleep(timedelta(milliseconds=ms))
    return ms


@timers.handler(inactivity_timeout=timedelta(seconds=60))
async def nap_live(ctx: Context, ms: int) -> int:
    """Sleep `ms` milliseconds; the attempt stays in memory while it waits."""
    await ctx.sleep(timedelta(milliseconds=ms))
    return ms


@timers.handler()
async def doze(ctx: Context, ms: int) -> None:
    """Sleep `ms` milliseconds, then run one counted step: one `wake` line per wake-up."""
    await ctx.sleep(timedelta(milliseconds=ms))
    await ctx.run("wake", lambda: _append("wakeups.log", f"{ctx.request().id} {time.time()!r}"))


# -- Combinators: select, gather, wait_completed, as_completed over awakeables --------------

combinators = Service("Combinators")


@combinators.handler()
async def race(ctx: Context, sleep_s: float) -> dict[str, Any]:
    """Race awakeables a, b, c and a sleep; journal the winner in a step named after it, then
    wait on two gates, so that the decision is replayed twice more before the result."""
    a_id, a = ctx.awakeable()
    b_id, b = ctx.awakeable()
    c_id, c = ctx.awakeable()
    timeout = ctx.sleep(timedelta(seconds=sleep_s))
    await _hand_out(ctx, {"a": a_id, "b": b_id, "c": c_id})
    winner, value = await restate.select(a=a, b=b, c=c, timeout=timeout)
    _append("selected.log", f"{ctx.request().id} {winner}")
    # A replay that picked another branch would make another step here: a journal mismatch.
    await _counted(ctx, f"decided-{winner}")
    for gate in ("gate1", "gate2"):
        gate_id, opened = ctx.awakeable()
        await _hand_out(ctx, {gate: gate_id})
        await opened
    return {"winner": winner, "value": value}


@combinators.handler()
async def gather_two(ctx: Context) -> list[Any]:
    """Wait for both of two awakeables with `gather`; their values in creation order."""
    a_id, a = ctx.awakeable()
    b_id, b = ctx.awakeable()
    await _hand_out(ctx, {"a": a_id, "b": b_id})
    done = await restate.gather(a, b)
    await _counted(ctx, "gathered")
    return [await f for f in done]


@combinators.handler()
async def first_done(ctx: Context) -> dict[str, Any]:
    """`wait_completed` over two awakeables: which were done and pending, then both values."""
    a_id, a = ctx.awakeable()
    b_id, b = ctx.awakeable()
    await _hand_out(ctx, {"a": a_id, "b": b_id})
    names = {id(a): "a", id(b): "b"}
    done, pending = await restate.wait_completed(a, b)
    out: dict[str, Any] = {
        "done": [names[id(f)] for f in done],
        "pending": [names[id(f)] for f in pending],
    }
    out["values"] = {names[id(f)]: await f for f in [*done, *pending]}
    return out


@combinators.handler()
async def in_order(ctx: Context) -> list[Any]:
    """`as_completed` over three awakeables: `[name, value]` in the order they completed."""
    ids: dict[str, str] = {}
    futures: dict[int, str] = {}
    created = []
    for name in ("a", "b", "c"):
        awakeable_id, future = ctx.awakeable()
        ids[name] = awakeable_id
        futures[id(future)] = name
        created.append(future)
    await _hand_out(ctx, ids)
    return [[futures[id(f)], await f] async for f in restate.as_completed(*created)]


resolver = Service("Resolver")


@resolver.handler()
async def resolve_all(ctx: Context, req: list[list[Any]]) -> None:
    """Resolve `[[awakeable id, value], ...]` in that order, in one attempt (one batch)."""
    for awakeable_id, value in req:
        ctx.resolve_awakeable(awakeable_id, value)


# -- Calls between handlers ------------------------------------------------------------------

callee = Service("Callee")


@callee.handler()
async def greet(ctx: Context, name: str) -> str:
    """A plain answer."""
    return f"hello {name}"


@callee.handler()
async def fail(ctx: Context, req: dict[str, Any]) -> str:
    """Fail with `TerminalError(req["message"], req["code"])`."""
    raise TerminalError(req["message"], req["code"])


@callee.handler()
async def record(ctx: Context, tag: str) -> str:
    """Leave one `records.log` line per execution of its step; return `tag`."""

    def body() -> None:
        _append("records.log", f"{tag} {ctx.request().id} {time.time()!r}")

    await ctx.run("record", body)
    return tag


@callee.handler()
async def header(ctx: Context, name: str) -> str | None:
    """The value of request header `name`, as the handler sees it."""
    return ctx.request().headers.get(name)


@callee.handler()
async def wait(ctx: Context, label: str) -> Any:
    """Wait on an awakeable handed out as `label`; compensate once if cancelled."""
    awakeable_id, awakeable = ctx.awakeable()
    await _hand_out(ctx, {label: awakeable_id})
    try:
        return await awakeable
    except TerminalError:
        await _counted(ctx, "compensate")
        raise


caller = Service("Caller")


async def _callee_id(ctx: Context, future: restate.RestateDurableCallFuture[Any]) -> str:
    callee_id = await future.invocation_id()
    _append("calls.log", f"{ctx.request().id} {callee_id}")
    return callee_id


@caller.handler()
async def call_greet(ctx: Context, name: str) -> dict[str, Any]:
    """Call Callee/greet; its result and the callee's invocation id."""
    future = ctx.service_call(greet, name)
    callee_id = await future.invocation_id()
    return {"result": await future, "callee": callee_id}


@caller.handler()
async def call_fail(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """Call Callee/fail and catch the TerminalError it raises."""
    try:
        await ctx.service_call(fail, req)
    except TerminalError as e:
        return {"code": e.status_code, "message": e.message}
    return {"code": None, "message": None}


@caller.handler()
async def call_fail_uncaught(ctx: Context, req: dict[str, Any]) -> str:
    """Call Callee/fail and let its TerminalError end this invocation too."""
    return await ctx.service_call(fail, req)


@caller.handler()
async def call_idempotent(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """Call Callee/record twice with the same idempotency key; both ids and results."""
    first = ctx.service_call(record, req["tag"], idempotency_key=req["key"])
    second = ctx.service_call(record, req["tag"], idempotency_key=req["key"])
    ids = [await first.invocation_id(), await second.invocation_id()]
    return {"ids": ids, "results": [await first, await second]}


@caller.handler()
async def call_generic(ctx: Context, name: str) -> str:
    """Call Callee/greet by name with raw JSON bytes; the raw result, decoded."""
    raw = await ctx.generic_call("Callee", "greet", json.dumps(name).encode())
    return raw.decode()


@caller.handler()
async def call_with_header(ctx: Context, value: str) -> str | None:
    """Call Callee/header with header `x-test: value`; what the callee saw."""
    return await ctx.service_call(header, "x-test", headers={"x-test": value})


@caller.handler(invocation_retry_policy=NO_RETRIES)
async def send_then_fail(ctx: Context, req: dict[str, Any]) -> str:
    """Send Callee/record, then fail (TerminalError or, not retried, a plain exception)."""
    handle = ctx.service_send(record, req["tag"])
    _append("calls.log", f"{ctx.request().id} {await handle.invocation_id()}")
    if req["how"] == "terminal":
        raise TerminalError("the caller gave up", 500)
    raise ValueError("the caller crashed")


@caller.handler()
async def send_later(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """Send Callee/record with `send_delay`; return the callee's id and when it was sent."""
    sent_at = await ctx.run("sent-at", time.time)
    handle = ctx.service_send(
        record, req["tag"], send_delay=timedelta(milliseconds=req["delay_ms"])
    )
    return {"callee": await handle.invocation_id(), "sent_at": sent_at}


@caller.handler()
async def attach_to(ctx: Context, invocation_id: str) -> Any:
    """Wait for another invocation's result with `ctx.attach_invocation`."""
    return await ctx.attach_invocation(invocation_id)


@caller.handler()
async def cancel_other(ctx: Context, invocation_id: str) -> str:
    """Cancel another invocation with `ctx.cancel_invocation`."""
    ctx.cancel_invocation(invocation_id)
    return "cancel sent"


# -- Cancellation: compensations, call chains, workflows -------------------------------------

cancellable = Service("Cancellable")


async def _call_and_compensate(ctx: Context, target: Any, label: str) -> Any:
    """Call `target(label)`; compensate once if cancelled (the cancel reaches the callee too)."""
    future = ctx.service_call(target, label)
    await _callee_id(ctx, future)
    try:
        return await future
    except TerminalError:
        await _counted(ctx, "compensate")
        raise


@cancellable.handler()
async def call_wait(ctx: Context, label: str) -> Any:
    """Call Callee/wait; compensate once if cancelled."""
    return await _call_and_compensate(ctx, wait, label)


@cancellable.handler()
async def call_then_cancel(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """Call Callee/wait, cancel that call through its future (after a durable pause of
    `req["pause_ms"]` if positive), and report how the call ended."""
    future = ctx.service_call(wait, req["label"])
    await _callee_id(ctx, future)
    if req["pause_ms"] > 0:
        await ctx.sleep(timedelta(milliseconds=req["pause_ms"]))
    await future.cancel_invocation()
    try:
        return {"value": await future}
    except TerminalError as e:
        return {"code": e.status_code, "message": e.message}


@cancellable.handler()
async def slow_step(ctx: Context, label: str) -> str:
    """A step that takes two seconds and traces its start and end; compensate if cancelled."""

    async def body() -> str:
        _step(ctx, "slow-start")
        await asyncio.sleep(2.0)  # a real, non-durable pause: the step is in flight
        _step(ctx, "slow-end")
        return "slow done"

    awakeable_id, _ = ctx.awakeable()
    await _hand_out(ctx, {label: awakeable_id})
    try:
        return await ctx.run("slow", body)
    except TerminalError:
        await _counted(ctx, "compensate")
        raise


chain_c = Service("ChainC")


@chain_c.handler("run")
async def chain_c_run(ctx: Context, label: str) -> Any:
    """The end of the chain: wait on an awakeable, compensate once if cancelled."""
    return await wait(ctx, label)


chain_b = Service("ChainB")


@chain_b.handler("run")
async def chain_b_run(ctx: Context, label: str) -> Any:
    """The middle of the chain: call ChainC, compensate once if cancelled."""
    return await _call_and_compensate(ctx, chain_c_run, label)


chain_a = Service("ChainA")


@chain_a.handler("run")
async def chain_a_run(ctx: Context, label: str) -> Any:
    """The top of the chain: call ChainB, compensate once if cancelled."""
    return await _call_and_compensate(ctx, chain_b_run, label)


flow = Workflow("CancelFlow")


@flow.main()
async def run(ctx: WorkflowContext) -> Any:
    """Wait on the durable promise `approval`; compensate once if cancelled."""
    try:
        return await ctx.promise("approval").value()
    except TerminalError:
        await _counted(ctx, "compensate")
        raise


@flow.handler()
async def approve(ctx: WorkflowSharedContext, value: Any) -> str:
    """Resolve the workflow's `approval` promise."""
    await ctx.promise("approval").resolve(value)
    return "approved"


app = restate.app(
    services=[
        timers,
        combinators,
        resolver,
        callee,
        caller,
        cancellable,
        chain_a,
        chain_b,
        chain_c,
        flow,
    ]
)


# -- the test side: reading traces -----------------------------------------------------------


class Traces:
    """What the handlers wrote in their trace directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def lines(self, file: str) -> list[list[str]]:
        """The complete lines of a trace file, split on spaces."""
        path = self.folder / file
        if not path.exists():
            return []
        text = path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line being written is not counted yet
        return [line.split(" ") for line in complete.splitlines()]

    def steps(self) -> Counter[tuple[str, str]]:
        """How many times each (invocation id, step) body executed."""
        return Counter((iid, step) for iid, step, _ in self.lines("steps.log"))

    def step_count(self, invocation_id: str, step: str) -> int:
        """How many times `step` of `invocation_id` executed."""
        return self.steps()[(invocation_id, step)]

    def step_times(self, invocation_id: str, step: str) -> list[float]:
        """When each execution of `step` of `invocation_id` ran (unix time)."""
        rows = self.lines("steps.log")
        return [float(t) for iid, s, t in rows if (iid, s) == (invocation_id, step)]

    def awakeables(self) -> dict[str, dict[str, str]]:
        """invocation id -> label -> the awakeable id handed out (the first one)."""
        found: dict[str, dict[str, str]] = defaultdict(dict)
        for iid, label, awakeable_id in self.lines("awakeables.log"):
            found[iid].setdefault(label, awakeable_id)
        return found

    def by_label(self, label: str) -> tuple[str, str] | None:
        """`(invocation id, awakeable id)` of the awakeable handed out as `label`, if any."""
        for iid, found, awakeable_id in self.lines("awakeables.log"):
            if found == label:
                return iid, awakeable_id
        return None

    def selected(self, invocation_id: str) -> list[str]:
        """The branches the attempts of a `race` invocation got from `select`, in order."""
        return [branch for iid, branch in self.lines("selected.log") if iid == invocation_id]

    def callees(self, caller_id: str) -> set[str]:
        """The invocation ids of the calls `caller_id` made."""
        return {c for iid, c in self.lines("calls.log") if iid == caller_id}

    def records(self, tag: str) -> list[tuple[str, float]]:
        """`(invocation id, unix time)` of each execution of Callee/record for `tag`."""
        return [(iid, float(t)) for found, iid, t in self.lines("records.log") if found == tag]

    def wakeups(self) -> dict[str, list[float]]:
        """Timers/doze invocation id -> when each execution of its step after the sleep ran."""
        found: dict[str, list[float]] = defaultdict(list)
        for iid, t in self.lines("wakeups.log"):
            found[iid].append(float(t))
        return found
