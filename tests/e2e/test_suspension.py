"""Suspension and replay over a real server: with `--inactivity-timeout 0` every await that is
not ready ends the attempt, so each resumption replays the journal from the start."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.apps_durability import (
    APP,
    TRACES_ENV,
    Traces,
    attach,
    describe,
    resolve,
    send,
    wait_status,
    wait_until,
)
from tests.support.server import ServerFactory, WakefulProcess


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> tuple[WakefulProcess, Traces]:
    """One server with `--inactivity-timeout 0` for the module, and its trace reader."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="suspension")
    return process, Traces(process.traces_dir)


def _completion_value(journal: list[dict[str, Any]], completion_id: int) -> Any:
    for row in journal:
        if row["entry"] == f"Completion(id={completion_id})":
            return json.loads(row["result"]["value"])
    raise AssertionError(f"no completion {completion_id} in {journal}")


def test_two_awakeables_resume_by_replay_and_each_step_runs_once(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """Resolving two awakeables one by one resumes the handler twice by replay; each ctx.run body
    runs exactly once and replays return the journaled step results."""
    proc, traces = server
    iid = send(proc.url, "Durability/pipeline", "order-7")

    first = traces.awakeable(iid, "first")
    wait_status(proc.admin_url, iid, "suspended")
    resolve(proc.url, first, {"approved": True, "by": "alice"})
    second = traces.awakeable(iid, "second")
    wait_status(proc.admin_url, iid, "suspended")
    resolve(proc.url, second, {"shipped": "2024-05-01"})

    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["name"] == "order-7"
    assert out["payloads"] == [{"approved": True, "by": "alice"}, {"shipped": "2024-05-01"}]
    assert [s.split("-")[0] for s in out["steps"]] == ["a", "b", "c"]

    counts = {step: n for (i, step), n in traces.steps().items() if i == iid}
    steps = ["step-a", "hand-out-1", "step-b", "hand-out-2", "step-c"]
    assert counts == dict.fromkeys(steps, 1)

    info = describe(proc.admin_url, iid)
    assert info["status"] == "completed"
    assert info["attempt"] == 3  # one attempt per suspension: two resumptions replayed
    # completion ids follow the ctx.run calls: step-a 1, hand-out-1 2, step-b 3, ...
    journal = info["journal"]
    recorded = [_completion_value(journal, cid) for cid in (1, 3, 5)]
    assert out["steps"] == recorded  # the attempt that returned got a and b from the journal
    entries = [row["entry"] for row in journal]
    assert entries.count("Signal(index=17)") == 1
    assert entries.count("Signal(index=18)") == 1
    assert entries[-1] == "Output"


def test_ctx_random_and_uuid_are_the_same_on_every_replay(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """ctx.uuid() and ctx.random() give the same values on every attempt: the values journaled
    by the first and second attempts equal those the third attempt computed afresh."""
    proc, traces = server
    iid = send(proc.url, "Durability/deterministic", None)
    for label in ("first", "second"):
        awakeable_id = traces.awakeable(iid, label)
        wait_status(proc.admin_url, iid, "suspended")
        resolve(proc.url, awakeable_id, label)

    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    out = response.json()
    assert describe(proc.admin_url, iid)["attempt"] == 3
    assert out["computed"] == out["recorded"]
    [u1, _], u2 = out["recorded"]
    assert u1 != u2  # the sequence advances: replay did not just return one constant


def test_nondeterministic_handler_fails_with_journal_mismatch_and_backs_off(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """A handler whose step name changes between attempts fails on replay with a journal
    mismatch (570) naming the handler and the entry index, and is retried (backing-off)."""
    proc, traces = server
    iid = send(proc.url, "Durability/nondeterministic", None)
    awakeable_id = traces.awakeable(iid, "only")
    wait_status(proc.admin_url, iid, "suspended")
    resolve(proc.url, awakeable_id, "go")

    info = wait_until(
        lambda: (d := describe(proc.admin_url, iid))["status"] == "backing-off" and d,
        10,
        "the mismatch to send the invocation to backing-off",
    )
    failure = info["last_failure"]
    assert failure["code"] == 570
    assert "Durability/nondeterministic" in failure["message"]
    assert "index 3" in failure["message"]  # after Input and the awakeable
    assert "varying-1" in failure["message"]
    assert info["retry_count"] >= 1
    counts = {step: n for (i, step), n in traces.steps().items() if i == iid}
    assert counts == {"hand-out": 1, "varying-1": 1}  # the diverging step never ran its body
