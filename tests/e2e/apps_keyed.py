"""The application the virtual object and workflow tests serve.

`wakeful serve tests/e2e/apps_keyed.py:app` runs it. Its handlers leave traces in the directory
named by `WAKEFUL_TEST_DIR`, in the formats `tests.e2e.apps_durability.Traces` reads, each line
appended with a single `write(2)` on an `O_APPEND` descriptor:

- `steps.log`: `"{invocation id} {step}"` each time a `ctx.run` body executes;
- `awakeables.log`: `"{invocation id} {label} {awakeable id}"` each time a step hands out an
  awakeable id (labels are `{object key}:{tag}`, since a caller does not know the invocation id
  of a call before it ends);
- `order.log`: `"{object key} {tag}"` each time the recording step of `Queue/enqueue` executes,
  so the file shows the order in which the queued handlers really ran.

This module must stay importable by the server on its own: it imports nothing from `tests`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import wakeful as restate
from wakeful import (
    Context,
    InvocationRetryPolicy,
    ObjectContext,
    ObjectSharedContext,
    TerminalError,
    VirtualObject,
    Workflow,
    WorkflowContext,
    WorkflowSharedContext,
)

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_TEST_DIR"
RETENTION = timedelta(seconds=2)
ONBOARDING_STAGES = ("profile", "verified", "welcome")


def _append(file: str, line: str) -> None:
    fd = os.open(Path(os.environ[TRACES_ENV]) / file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def _counted(ctx: Context, step: str, value: Any = None) -> Any:
    """The body of a counted step: leave a trace, return `value`."""
    _append("steps.log", f"{ctx.request().id} {step}")
    return value


def _fresh(prefix: str) -> str:
    """A value that differs on every execution: only the journal can make it come back."""
    return f"{prefix}-{uuid.uuid4().hex}"


# -- Queue: exclusive handlers of one key run one at a time, in arrival order --------------

queue = VirtualObject("Queue")


@queue.handler()
async def enqueue(ctx: ObjectContext, req: dict[str, Any]) -> list[str]:
    """Append `req["tag"]` to the key's `order` list; with `wait`, first await an awakeable.

    The list is read before and written after a step that takes a while: two handlers of the
    same key running at once would lose one of the appends.
    """
    tag = req["tag"]
    if req.get("wait"):
        awakeable_id, awakeable = ctx.awakeable()

        def hand_out() -> None:
            _counted(ctx, "hand-out")
            _append("awakeables.log", f"{ctx.request().id} {ctx.key()}:{tag} {awakeable_id}")

        await ctx.run("hand-out", hand_out)
        await awakeable
    so_far: list[str] = await ctx.get("order") or []

    async def record() -> None:
        _counted(ctx, "record")
        _append("order.log", f"{ctx.key()} {tag}")
        await asyncio.sleep(0.01)

    await ctx.run("record", record)
    so_far = [*so_far, tag]
    ctx.set("order", so_far)
    return so_far


@queue.handler(kind="shared")
async def order(ctx: ObjectSharedContext) -> dict[str, Any]:
    """The key's `order` list as stored now (a shared handler: never queued)."""
    return {"order": await ctx.get("order")}


# -- Store: the state API --------------------------------------------------------------------

store = VirtualObject("Store")


@store.handler()
async def apply(ctx: ObjectContext, ops: list[list[Any]]) -> list[Any]:
    """Run state operations in order; what `get` and `keys` observed, in order."""
    seen: list[Any] = []
    for op, *args in ops:
        match op:
            case "set":
                ctx.set(args[0], args[1])
            case "get":
                seen.append(await ctx.get(args[0]))
            case "clear":
                ctx.clear(args[0])
            case "clear_all":
                ctx.clear_all()
            case "keys":
                seen.append(sorted(await ctx.state_keys()))
            case _:
                raise TerminalError(f"unknown operation {op!r}", 400)
    return seen


@dataclass
class Tally:
    """A value stored as JSON and read back with `type_hint=Tally`."""

    count: int = 0


@store.handler()
async def bump(ctx: ObjectContext) -> dict[str, Any]:
    """Increment the stored tally, read with `type_hint=Tally`."""
    tally = await ctx.get("tally", type_hint=Tally)
    found = type(tally).__name__
    count = (tally or Tally()).count + 1
    ctx.set("tally", Tally(count))
    return {"count": count, "read_type": found}


@store.handler(kind="shared")
async def snapshot(ctx: ObjectSharedContext) -> dict[str, Any]:
    """All stored values of the key, read by a shared handler."""
    keys = sorted(await ctx.state_keys())
    return {"keys": keys, "values": {k: await ctx.get(k) for k in keys}}


@store.handler(
    kind="shared",
    invocation_retry_policy=InvocationRetryPolicy(max_attempts=1, on_max_attempts="kill"),
)
async def illegal_set(ctx: ObjectSharedContext, value: Any) -> str:
    """A shared handler trying to write state: fails, and is killed after its only attempt."""
    ctx.set("intruder", value)  # type: ignore[attr-defined]  # the point: shared is read-only
    return "state written"


# -- Review: run awaits a promise that a shared handler resolves ------------------------------

review = Workflow("Review")


@review.main(name="run")
async def review_run(ctx: WorkflowContext, doc: str) -> dict[str, Any]:
    """Prepare, wait for the review, publish."""
    await ctx.run("prepare", lambda: _counted(ctx, "prepare"))
    ctx.set("status", "awaiting review")
    verdict = await ctx.promise("review").value()
    await ctx.run("publish", lambda: _counted(ctx, "publish"))
    ctx.set("status", "published")
    return {"doc": doc, "review": verdict}


@review.handler("submitReview")
async def submit_review(ctx: WorkflowSharedContext, verdict: Any) -> str:
    """Resolve the review promise."""
    await ctx.promise("review").resolve(verdict)
    return "submitted"


@review.handler()
async def status(ctx: WorkflowSharedContext) -> dict[str, Any]:
    """The workflow's status, from its state."""
    return {"status": await ctx.get("status")}


# -- Onboarding: run awaits three promises, one after the other -------------------------------

onboarding = Workflow("Onboarding")


@onboarding.main(name="run")
async def onboarding_run(ctx: WorkflowContext, user: str) -> dict[str, Any]:
    """Wait for each stage's promise in turn, with a counted step after each."""
    collected = []
    for stage in ONBOARDING_STAGES:
        collected.append(await ctx.promise(stage).value())
        await ctx.run(f"after-{stage}", lambda stage=stage: _counted(ctx, f"after-{stage}"))
        ctx.set("stage", stage)
    return {"user": user, "stages": collected}


@onboarding.handler()
async def complete(ctx: WorkflowSharedContext, req: dict[str, Any]) -> str:
    """Resolve the promise of stage `req["stage"]` with `req["value"]`."""
    await ctx.promise(req["stage"]).resolve(req["value"])
    return "completed"


# -- Handoff: run resolves a promise that a shared handler awaits and returns -----------------

handoff = Workflow("Handoff")


@handoff.main(name="run")
async def handoff_run(ctx: WorkflowContext) -> str:
    """Wait for `go`, compute a fresh result, hand it out through the `result` promise."""
    await ctx.promise("go").value()
    computed = await ctx.run("compute", lambda: _counted(ctx, "compute", _fresh("result")))
    await ctx.promise("result").resolve(computed)
    return str(computed)


@handoff.handler()
async def go(ctx: WorkflowSharedContext) -> str:
    """Let the run proceed."""
    await ctx.promise("go").resolve(True)
    return "going"


@handoff.handler()
async def result(ctx: WorkflowSharedContext) -> str:
    """Wait for the run's result and return it (the external side of the pattern)."""
    return str(await ctx.promise("result").value())


# -- Promises: the promise API, driven from outside -----------------------------------------

promises = Workflow("Promises")


@promises.main(name="run")
async def promises_run(ctx: WorkflowContext) -> Any:
    """Return the value of the `outcome` promise (a rejection fails the run with it)."""
    return await ctx.promise("outcome").value()


def _failure(e: TerminalError) -> dict[str, Any]:
    return {"code": e.status_code, "message": e.message}


@promises.handler("resolve")
async def resolve_promise(ctx: WorkflowSharedContext, req: dict[str, Any]) -> dict[str, Any]:
    """Resolve promise `req["name"]`; the TerminalError the resolution raised, if any."""
    try:
        await ctx.promise(req["name"]).resolve(req["value"])
    except TerminalError as e:
        return {"error": _failure(e)}
    return {"error": None}


@promises.handler("reject")
async def reject_promise(ctx: WorkflowSharedContext, req: dict[str, Any]) -> dict[str, Any]:
    """Reject promise `req["name"]`; the TerminalError the rejection raised, if any."""
    try:
        await ctx.promise(req["name"]).reject(req["message"], req["code"])
    except TerminalError as e:
        return {"error": _failure(e)}
    return {"error": None}


@promises.handler()
async def resolve_unawaited(ctx: WorkflowSharedContext, req: dict[str, Any]) -> str:
    """Resolve promise `req["name"]` without awaiting the resolution's outcome."""
    ctx.promise(req["name"]).resolve(req["value"])
    return "not awaited"


@promises.handler()
async def peek(ctx: WorkflowSharedContext, name: str) -> dict[str, Any]:
    """Peek at promise `name` without waiting."""
    return {"peeked": await ctx.promise(name).peek()}


@promises.handler()
async def wait(ctx: WorkflowSharedContext, name: str) -> dict[str, Any]:
    """Await promise `name`: its value, or the TerminalError a rejection raised."""
    try:
        return {"value": await ctx.promise(name).value()}
    except TerminalError as e:
        return {"error": _failure(e)}


# -- Brief: a workflow retained for two seconds after its run -------------------------------

brief = Workflow("Brief", workflow_retention=RETENTION)


@brief.main(name="run")
async def brief_run(ctx: WorkflowContext, value: str) -> str:
    """Store `value` in state and in the promise `p`; return it."""
    ctx.set("value", value)
    await ctx.promise("p").resolve(value)
    return value


@brief.handler()
async def read(ctx: WorkflowSharedContext) -> dict[str, Any]:
    """The workflow's state and promise, as a shared handler sees them."""
    return {"state": await ctx.get("value"), "promise": await ctx.promise("p").peek()}


app = restate.app(services=[queue, store, review, onboarding, handoff, promises, brief])
