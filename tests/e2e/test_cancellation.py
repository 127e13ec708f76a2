"""Cancellation and kill over a real server: the admin API's `PATCH /invocations/{id}/cancel`,
`/kill` and `/purge`, `ctx.cancel_invocation`, and cancelling a call through its future.

A cancelled handler gets `TerminalError("cancelled", 409)` at its current or next await, once; it
may compensate (here: one counted `ctx.run` step) and re-raise, and it passes the cancellation
on to the calls it made. A killed invocation ends at once with 409 "killed": no compensation
runs, and the calls it made are killed too.

The server runs with `--inactivity-timeout 0`: waiting handlers are suspended when cancelled, so
each cancellation resumes them by replay.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from tests.e2e.apps_durability import attach, describe, resolve, send, wait_status, wait_until
from tests.e2e.apps_timers import APP, TRACES_ENV, Traces
from tests.support.server import ServerFactory, WakefulProcess

from wakeful.journal.ids import InvocationId

Server = tuple[WakefulProcess, Traces]

SETTLE = 0.3  # long enough for a stray attempt or signal to leave a trace


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> Server:
    """One server with `--inactivity-timeout 0` for the module, and its trace reader."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="cancellation")
    return process, Traces(process.traces_dir)


def _admin(proc: WakefulProcess, iid: str, op: str) -> httpx.Response:
    return httpx.patch(f"{proc.admin_url}/invocations/{iid}/{op}", timeout=10)


def _handed_out(traces: Traces, label: str) -> tuple[str, str]:
    """Wait until the awakeable `label` is handed out; `(invocation id, awakeable id)`."""
    return wait_until(lambda: traces.by_label(label), 10, f"awakeable {label!r}")


def _failure(proc: WakefulProcess, iid: str) -> tuple[int, Any]:
    """Attach to an invocation that ends with a failure: `(HTTP status, message)`."""
    response = attach(proc.url, iid)
    return response.status_code, response.json().get("message")


def _callee(traces: Traces, caller_id: str) -> str:
    (callee_id,) = wait_until(lambda: traces.callees(caller_id), 10, f"{caller_id}'s call")
    return callee_id


def _label() -> str:
    return f"label-{uuid.uuid4().hex}"


def test_cancel_waiting_handler_compensates_once_then_late_completion_changes_nothing(
    server: Server,
) -> None:
    """Cancelling a handler suspended on an awakeable: 202, its `except TerminalError` step runs
    exactly once, it ends with 409 "cancelled"; resolving the awakeable afterwards is answered
    202 and changes nothing."""
    proc, traces = server
    label = _label()
    iid = send(proc.url, "Callee/wait", label)
    _, awakeable = _handed_out(traces, label)
    wait_status(proc.admin_url, iid, "suspended")

    assert _admin(proc, iid, "cancel").status_code == 202
    assert _failure(proc, iid) == (409, "cancelled")
    before = describe(proc.admin_url, iid)

    resolve(proc.url, awakeable, "too late")
    time.sleep(SETTLE)
    assert describe(proc.admin_url, iid) == before
    assert traces.step_count(iid, "compensate") == 1
    assert traces.step_count(iid, "hand-out") == 1


def test_cancel_workflow_waiting_on_a_promise(server: Server) -> None:
    """Cancelling a workflow run awaiting `ctx.promise(...).value()`: it compensates once and
    ends with 409; resolving the promise afterwards does not change its result."""
    proc, traces = server
    key = uuid.uuid4().hex
    iid = send(proc.url, f"CancelFlow/{key}/run", None)
    assert iid == str(InvocationId.for_workflow("CancelFlow", key))
    wait_status(proc.admin_url, iid, "suspended")

    assert _admin(proc, iid, "cancel").status_code == 202
    workflow = httpx.get(f"{proc.url}/restate/workflow/CancelFlow/{key}/attach", timeout=10)
    assert workflow.status_code == 409, workflow.text
    assert workflow.json()["message"] == "cancelled"

    approve = httpx.post(f"{proc.url}/CancelFlow/{key}/approve", json="yes", timeout=10)
    assert approve.status_code == 200, approve.text
    time.sleep(SETTLE)
    assert _failure(proc, iid) == (409, "cancelled")
    assert traces.step_count(iid, "compensate") == 1


def test_cancel_propagates_down_a_call_chain(server: Server) -> None:
    """Cancelling A where A calls B calls C and C waits on an awakeable: the cancellation
    reaches B and C; C, B and A each run their compensation once and all end with 409."""
    proc, traces = server
    label = _label()
    a = send(proc.url, "ChainA/run", label)
    c, _ = _handed_out(traces, label)
    b = _callee(traces, a)
    assert _callee(traces, b) == c
    for iid in (a, b, c):
        wait_status(proc.admin_url, iid, "suspended")

    assert _admin(proc, a, "cancel").status_code == 202
    for iid in (a, b, c):
        assert _failure(proc, iid) == (409, "cancelled"), iid
    time.sleep(SETTLE)
    assert {iid: traces.step_count(iid, "compensate") for iid in (a, b, c)} == {
        a: 1,
        b: 1,
        c: 1,
    }


def test_kill_ends_at_once_without_compensation_and_kills_the_child_call(server: Server) -> None:
    """Killing a caller suspended on a call: 200, it ends with 409 "killed", its callee is
    killed too, neither compensates; completing the callee's awakeable then changes nothing."""
    proc, traces = server
    label = _label()
    parent = send(proc.url, "Cancellable/call_wait", label)
    child, awakeable = _handed_out(traces, label)
    wait_status(proc.admin_url, parent, "suspended")
    wait_status(proc.admin_url, child, "suspended")

    assert _admin(proc, parent, "kill").status_code == 200
    assert _failure(proc, parent) == (409, "killed")
    assert _failure(proc, child) == (409, "killed")
    before = describe(proc.admin_url, child)
    resolve(proc.url, awakeable, "too late")
    time.sleep(SETTLE)
    assert describe(proc.admin_url, child) == before
    assert traces.step_count(parent, "compensate") == 0
    assert traces.step_count(child, "compensate") == 0


def test_kill_aborts_a_running_attempt_at_once(server: Server) -> None:
    """Killing an invocation while one of its steps runs ends it at once with 409 "killed":
    the step is stopped (it never finishes) and no compensation runs."""
    proc, traces = server
    label = _label()
    iid = send(proc.url, "Cancellable/slow_step", label)
    wait_until(lambda: traces.step_count(iid, "slow-start"), 10, "the slow step to start")

    killed_at = time.monotonic()
    assert _admin(proc, iid, "kill").status_code == 200
    assert _failure(proc, iid) == (409, "killed")
    assert time.monotonic() - killed_at < 1.0  # the step needs two seconds
    time.sleep(2.2)  # the step would have finished by now
    assert traces.step_count(iid, "slow-end") == 0
    assert traces.step_count(iid, "compensate") == 0


def test_cancel_while_a_step_runs_lets_the_step_finish_first(server: Server) -> None:
    """Cancelling an invocation while one of its steps runs: the step completes and its result
    is journaled, then the handler gets the TerminalError, compensates once and ends with 409."""
    proc, traces = server
    label = _label()
    iid = send(proc.url, "Cancellable/slow_step", label)
    wait_until(lambda: traces.step_count(iid, "slow-start"), 10, "the slow step to start")

    assert _admin(proc, iid, "cancel").status_code == 202
    assert _failure(proc, iid) == (409, "cancelled")
    time.sleep(SETTLE)
    assert traces.step_count(iid, "slow-end") == 1
    entries = [row["entry"] for row in describe(proc.admin_url, iid)["journal"]]
    slow = entries.index("Run(name='slow')")
    assert entries.count("Completion(id=2)") == 1  # hand-out is completion 1, slow is 2
    assert entries.index("Completion(id=2)") > slow
    assert traces.step_count(iid, "compensate") == 1


def test_cancel_from_another_handler_with_ctx_cancel_invocation(server: Server) -> None:
    """`ctx.cancel_invocation(id)` in another handler cancels the target like the admin API:
    it compensates once and ends with 409."""
    proc, traces = server
    label = _label()
    target = send(proc.url, "Callee/wait", label)
    _handed_out(traces, label)
    wait_status(proc.admin_url, target, "suspended")

    response = httpx.post(f"{proc.url}/Caller/cancel_other", json=target, timeout=10)
    assert response.status_code == 200, response.text
    assert _failure(proc, target) == (409, "cancelled")
    time.sleep(SETTLE)
    assert traces.step_count(target, "compensate") == 1


def _completed(proc: WakefulProcess, iid: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll the admin API (no ingress request left hanging) until `iid` completed."""
    return wait_until(
        lambda: (d := describe(proc.admin_url, iid))["status"] == "completed" and d,
        timeout,
        f"{iid} to complete",
    )


def test_cancel_a_running_call_through_its_future(server: Server) -> None:
    """`await future.cancel_invocation()` on a call whose callee already runs cancels the
    callee; awaiting the call then raises the callee's TerminalError 409 in the caller."""
    proc, traces = server
    label = _label()
    caller_id = send(proc.url, "Cancellable/call_then_cancel", {"label": label, "pause_ms": 200})
    callee_id, _ = _handed_out(traces, label)
    result = _completed(proc, caller_id)["result"]
    assert json.loads(result["value"]) == {"code": 409, "message": "cancelled"}
    assert _completed(proc, callee_id)["result"] == {
        "failure": {"code": 409, "message": "cancelled"}
    }
    assert traces.step_count(callee_id, "compensate") == 1


def test_cancel_a_call_made_in_the_same_flush_through_its_future(server: Server) -> None:
    """Cancelling a call through its future right after making it (both commands flushed
    together, so the callee starts and is cancelled in one batch) still ends the callee with
    409 and raises the TerminalError in the caller."""
    proc, traces = server
    caller_id = send(proc.url, "Cancellable/call_then_cancel", {"label": _label(), "pause_ms": 0})
    callee_id = _callee(traces, caller_id)
    assert _completed(proc, callee_id)["result"] == {
        "failure": {"code": 409, "message": "cancelled"}
    }
    result = _completed(proc, caller_id)["result"]
    assert json.loads(result["value"]) == {"code": 409, "message": "cancelled"}


def test_cancel_a_scheduled_invocation_ends_it_before_it_starts(server: Server) -> None:
    """Cancelling a delayed send that has not started yet: 200, it ends with 409 "canceled" and
    its handler never runs."""
    proc, traces = server
    tag = f"never-{uuid.uuid4().hex}"
    sent = httpx.post(
        f"{proc.url}/Callee/record/send", params={"delay": "1s"}, json=tag, timeout=10
    )
    assert sent.status_code == 202, sent.text
    iid = sent.json()["invocationId"]
    assert describe(proc.admin_url, iid)["status"] == "scheduled"

    assert _admin(proc, iid, "cancel").status_code == 200
    assert _failure(proc, iid) == (409, "canceled")
    time.sleep(1.3)  # past the time it was scheduled for
    assert traces.records(tag) == []


@pytest.mark.parametrize("op", ["cancel", "kill"])
def test_cancel_or_kill_unknown_is_404_and_completed_is_409(server: Server, op: str) -> None:
    """cancel/kill of an id nobody invoked is 404; of a completed invocation 409."""
    proc, _ = server
    assert _admin(proc, str(InvocationId.random()), op).status_code == 404
    done = httpx.post(f"{proc.url}/Callee/greet", json="x", timeout=10)
    assert done.status_code == 200, done.text
    response = _admin(proc, done.headers["x-restate-id"], op)
    assert response.status_code == 409, response.text
    assert "already completed" in response.json()["message"]


def test_purge_of_a_completed_invocation_forgets_it(server: Server) -> None:
    """Purging a completed invocation: 200, then attaching to it (or describing it) is 404."""
    proc, _ = server
    done = httpx.post(f"{proc.url}/Callee/greet", json="y", timeout=10)
    iid = done.headers["x-restate-id"]
    assert attach(proc.url, iid).json() == "hello y"

    assert _admin(proc, iid, "purge").status_code == 200
    assert attach(proc.url, iid).status_code == 404
    response = httpx.get(f"{proc.admin_url}/invocations/{iid}", timeout=10)
    assert response.status_code == 404


def test_purge_of_a_running_invocation_is_409(server: Server) -> None:
    """An invocation that has not completed cannot be purged (409); it keeps waiting."""
    proc, traces = server
    label = _label()
    iid = send(proc.url, "Callee/wait", label)
    _, awakeable = _handed_out(traces, label)
    assert _admin(proc, iid, "purge").status_code == 409
    resolve(proc.url, awakeable, "still here")
    assert attach(proc.url, iid).json() == "still here"
