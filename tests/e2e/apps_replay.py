"""The application of the replay-divergence tests: a handler whose code changes between attempts.

`wakeful serve tests/e2e/apps_replay.py:app` runs it. The name of the step the handler journals
is read from `step-name` in the directory named by `WAKEFUL_TEST_DIR` (default `charge`), so a
test can change "the code" while an invocation is suspended. The awakeable the handler waits on
is written to `awakeable-{invocation id}`.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import wakeful as restate
from wakeful import Context, InvocationRetryPolicy, Service

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_TEST_DIR"

# Quick retries, so that a test sees the second attempt of a diverged invocation soon.
QUICK = InvocationRetryPolicy(initial_interval=timedelta(milliseconds=100))


def _folder() -> Path:
    return Path(os.environ[TRACES_ENV])


def _step_name() -> str:
    path = _folder() / "step-name"
    return path.read_text() if path.exists() else "charge"


def _publish(invocation_id: str, awakeable_id: str) -> None:
    tmp = _folder() / f"awakeable-{invocation_id}.tmp"
    tmp.write_text(awakeable_id)
    tmp.replace(_folder() / f"awakeable-{invocation_id}")


replay = Service("Replay")


@replay.handler(invocation_retry_policy=QUICK)
async def swallowing(ctx: Context) -> str:
    """Journals a step, waits for an awakeable, then 'handles' any error of the next steps."""
    with contextlib.suppress(Exception):
        await ctx.run(_step_name(), lambda: "done")
    approval_id, approval = ctx.awakeable()
    await ctx.run("publish", lambda: _publish(ctx.request().id, approval_id))
    verdict: str = await approval
    return f"approved: {verdict}"


app = restate.app([replay])
