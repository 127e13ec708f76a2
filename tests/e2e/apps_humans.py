"""The application the human-in-the-loop tests serve: approvals that wait for a person.

`wakeful serve tests/e2e/apps_humans.py:app` runs it. Every handler creates its awakeables
first, so the n-th one has signal index 16 + n and the tests can name it from the invocation
id alone (as an attacker could).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pydantic

import wakeful as restate
from wakeful import Context, Service, Workflow, WorkflowContext, WorkflowSharedContext

APP = f"{__file__}:app"
LINKS_ENV = "WAKEFUL_TEST_LINKS"


class Decision(pydantic.BaseModel):
    """A manager's answer: approved or not, with an optional comment."""

    approved: bool
    comment: str | None = None


class Review(msgspec.Struct):
    """A reviewer's score."""

    score: int


@dataclasses.dataclass
class Shipment:
    """Where a parcel went."""

    carrier: str
    days: int


humans = Service("Humans")


@humans.handler()
async def approve(ctx: Context, expense: str) -> dict[str, Any]:
    """Ask for a Decision on `expense`, racing it against a one-hour timer."""
    _, decision = ctx.awakeable(type_hint=Decision, description=f"Approve {expense}")
    match await restate.select(decision=decision, timeout=ctx.sleep(timedelta(hours=1))):
        case ["decision", answer]:
            return {"approved": answer.approved, "comment": answer.comment}
        case _:
            return {"timeout": True}


@humans.handler()
async def kinds(ctx: Context, _: str) -> list[Any]:
    """Five awakeables, one per kind of type hint (the last has none); returns their values."""
    futures = [
        ctx.awakeable(type_hint=Decision)[1],
        ctx.awakeable(type_hint=Review)[1],
        ctx.awakeable(type_hint=Shipment)[1],
        ctx.awakeable(type_hint=int)[1],
        ctx.awakeable()[1],
    ]
    return [repr(await f) for f in futures]


@humans.handler()
async def plain(ctx: Context, _: str) -> Any:
    """One awakeable without a type: any payload goes."""
    _, value = ctx.awakeable(description="Anything")
    return await value


def _write_link(name: str, url: str) -> str:
    folder = Path(os.environ[LINKS_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.tmp").write_text(url)
    (folder / f"{name}.tmp").rename(folder / name)  # readers never see half a file
    return url


@humans.handler()
async def linked(ctx: Context, expense: str) -> bool:
    """Ask for a yes/no with a signed link (written to `$WAKEFUL_TEST_LINKS/{invocation}`)."""
    approval_id, approval = ctx.awakeable(type_hint=bool, description=f"Approve {expense}")
    url = await ctx.run("link", lambda: restate.completion_link(approval_id))
    await ctx.run("email", lambda: _write_link(ctx.request().id, url))
    return await approval


signoff = Workflow("Signoff")


@signoff.main()
async def run(ctx: WorkflowContext, doc: str) -> bool:
    """Wait for the sign-off of `doc` (a durable promise with a description)."""
    return await ctx.promise("verdict", type_hint=bool, description=f"Sign off {doc}").value()


@signoff.handler()
async def decide(ctx: WorkflowSharedContext, verdict: bool) -> None:
    """Resolve the sign-off."""
    await ctx.promise("verdict", type_hint=bool).resolve(verdict)


app = restate.app(services=[humans, signoff])
