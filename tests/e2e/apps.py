"""The application the end-to-end tests serve with `wakeful serve tests/e2e/apps.py:app`.

Handlers leave traces the tests can read in the directory named by `WAKEFUL_E2E_DIR`:
`awakeables/<invocation id>` holds the awakeable id an approval waits on, and
`runs/<name>` gets one line per execution of a counted step.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic

import wakeful as restate
from wakeful import Context, InvocationRetryPolicy, Service, TerminalError

TRACES = Path(os.environ.get("WAKEFUL_E2E_DIR", "."))

# A failing attempt is not retried: the invocation ends with the failure at once.
NO_RETRIES = InvocationRetryPolicy(max_attempts=1, on_max_attempts="kill")


def _publish(invocation_id: str, awakeable_id: str) -> None:
    folder = TRACES / "awakeables"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{invocation_id}.tmp"
    tmp.write_text(awakeable_id)
    tmp.replace(folder / invocation_id)


def _count_run(name: str) -> int:
    folder = TRACES / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a") as f:
        f.write("ran\n")
    return len((folder / name).read_text().splitlines())


# -- the approval flow: wait for an awakeable, and handlers that complete one ------------

approvals = Service("Approvals")


@approvals.handler()
async def request(ctx: Context, doc: str) -> dict[str, Any]:
    """Wait for a reviewer's verdict on `doc`; the awakeable id is published by a step."""
    review_id, review = ctx.awakeable()
    await ctx.run("publish", lambda: _publish(ctx.request().id, review_id))
    verdict = await review
    return {"doc": doc, "verdict": verdict}


@approvals.handler()
async def gated(ctx: Context) -> Any:
    """Read a verdict only after a gate opens, so the verdict can be completed several times."""
    verdict_id, verdict = ctx.awakeable()
    gate_id, gate = ctx.awakeable()
    ids = json.dumps({"verdict": verdict_id, "gate": gate_id})
    await ctx.run("publish", lambda: _publish(ctx.request().id, ids))
    await gate
    return await verdict


@approvals.handler()
async def deny(ctx: Context, awakeable_id: str) -> str:
    """Reject another invocation's awakeable with a chosen code."""
    ctx.reject_awakeable(awakeable_id, "nope", 403)
    return "denied"


@approvals.handler()
async def approve(ctx: Context, req: dict[str, Any]) -> str:
    """Resolve another invocation's awakeable with `req["value"]`."""
    ctx.resolve_awakeable(req["id"], req["value"])
    return "approved"


# -- plain request/response handlers ------------------------------------------------------

echo = Service("Echo")


@dataclass
class Order:
    item: str
    qty: int


class Person(pydantic.BaseModel):
    name: str
    age: int


class Greeting(pydantic.BaseModel):
    text: str
    adult: bool


@echo.handler()
async def say(ctx: Context, value: Any) -> Any:
    """Return the input unchanged."""
    return value


@echo.handler()
async def hello(ctx: Context) -> str:
    """A handler without input (callable with GET)."""
    return "hello"


@echo.handler()
async def counted(ctx: Context, name: str) -> dict[str, Any]:
    """Count executions of a step in `runs/<name>`; return the count seen by this execution."""
    runs = await ctx.run("count", lambda: _count_run(name))
    return {"name": name, "runs": runs}


@echo.handler()
async def fail(ctx: Context) -> str:
    """End with a terminal error carrying a custom status code."""
    raise TerminalError("bad", 422)


@echo.handler()
async def order(ctx: Context, order: Order) -> dict[str, Any]:
    """Typed input: a dataclass."""
    return {"type": type(order).__name__, "item": order.item, "total": order.qty * 2}


@echo.handler()
async def greet(ctx: Context, person: Person) -> Greeting:
    """Typed input and output: pydantic models."""
    return Greeting(text=f"Hello {person.name}!", adult=person.age >= 18)


@echo.handler(accept="application/octet-stream", content_type="application/octet-stream")
async def reverse(ctx: Context, data: bytes) -> bytes:
    """Raw bytes in and out."""
    return data[::-1]


@echo.handler()
async def request_info(ctx: Context) -> dict[str, Any]:
    """What the handler sees of its request: id, idempotency key and headers."""
    req = ctx.request()
    return {"id": req.id, "idempotency_key": req.idempotency_key, "headers": req.headers}


@echo.handler(invocation_retry_policy=NO_RETRIES)
async def nap(ctx: Context) -> str:
    """Sleeps durably for 10 ms."""
    await ctx.sleep(timedelta(milliseconds=10))
    return "rested"


@echo.handler(invocation_retry_policy=NO_RETRIES)
async def far_send(ctx: Context, days: int) -> str:
    """Send `Echo/hello` `days` days from now (too far must fail this invocation, nothing else)."""
    ctx.service_send(hello, arg=None, send_delay=timedelta(days=days))
    return "sent"


@echo.handler(invocation_retry_policy=NO_RETRIES)
async def far_sleep(ctx: Context, days: int) -> str:
    """Sleep `days` days (too far must fail this invocation, nothing else)."""
    await ctx.sleep(timedelta(days=days))
    return "woke"


# -- keyed services ------------------------------------------

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, value: int) -> int:
    """Never runs: virtual objects are answered with 501."""
    return value


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    """Never runs: workflows are answered with 501."""
    return email


app = restate.app(services=[approvals, echo, counter, signup])
