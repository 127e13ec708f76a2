"""Workflows over a real server: run once per key, durable promises shared by its handlers,
attach/output, retention, and the waits of a run surviving kill -9.

The servers run with `--inactivity-timeout 0`: every await that is not ready ends the attempt,
so each wait on a promise is a suspension and each resumption a replay.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import pytest
from tests.e2e.apps_durability import Traces, describe, wait_until
from tests.e2e.apps_keyed import APP, ONBOARDING_STAGES, RETENTION, TRACES_ENV
from tests.support.server import ServerFactory, WakefulProcess

Server = tuple[WakefulProcess, Traces]

ALREADY_INVOKED = {
    "code": 409,
    "message": "the workflow method was already invoked",
    "source": "invocation",
}
NOT_READY = {
    "code": 470,
    "message": "the invocation exists but has not completed yet",
    "source": "ingress",
}
NOT_FOUND = {"code": 404, "message": "invocation not found", "source": "ingress"}


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> Server:
    """One server for the module (every wait suspends), and its trace reader."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="workflows")
    return process, Traces(process.traces_dir)


@pytest.fixture
def crashable(serve: ServerFactory) -> Server:
    """A server of its own for a test that kills and restarts it."""
    proc = serve(APP, traces_env=TRACES_ENV)
    return proc, Traces(proc.traces_dir)


# -- helpers ---------------------------------------------------------------------------------


def _call(proc: WakefulProcess, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{proc.url}/{path}", json=body, timeout=20)


def _ok(proc: WakefulProcess, path: str, body: Any = None) -> Any:
    """Call `path` and return its JSON output; the call must succeed."""
    response = _call(proc, path, body)
    assert response.status_code == 200, response.text
    return response.json()


def _send_run(proc: WakefulProcess, workflow: str, key: str, body: Any = None) -> str:
    """Submit the workflow's run with /send; its invocation id."""
    response = _call(proc, f"{workflow}/{key}/run/send", body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "Accepted"
    return str(response.json()["invocationId"])


def _workflow(proc: WakefulProcess, workflow: str, key: str, verb: str) -> httpx.Response:
    """GET /restate/workflow/{workflow}/{key}/attach|output."""
    return httpx.get(f"{proc.url}/restate/workflow/{workflow}/{key}/{verb}", timeout=20)


def _suspended(proc: WakefulProcess, iid: str, journal_length: int | None = None) -> None:
    """Wait until `iid` is suspended (with at least `journal_length` entries)."""

    def probe() -> bool:
        info = describe(proc.admin_url, iid)
        long_enough = journal_length is None or len(info["journal"]) >= journal_length
        return bool(info["status"] == "suspended" and long_enough)

    wait_until(probe, 10, f"{iid} to suspend")


def _steps(traces: Traces, iid: str) -> dict[str, int]:
    """How many times each counted step of `iid` ran."""
    return {step: n for (i, step), n in traces.steps().items() if i == iid}


def _promise_waits(proc: WakefulProcess, iid: str) -> int:
    """How many promise awaits `iid` has journaled."""
    return sum(
        e["entry"].startswith("GetPromise") for e in describe(proc.admin_url, iid)["journal"]
    )


# -- the review workflow -----------------------------------------------------------------------


def test_review_run_waits_for_the_promise_a_shared_handler_resolves(server: Server) -> None:
    """The run suspends on the review promise (output 470, attach blocks) until the
    submitReview shared handler resolves it; then attach and output give the result, each
    step ran once, and shared handlers still answer after the run finished."""
    proc, traces = server
    iid = _send_run(proc, "Review", "doc-1", "design.md")
    _suspended(proc, iid)
    assert _ok(proc, "Review/doc-1/status") == {"status": "awaiting review"}
    pending = _workflow(proc, "Review", "doc-1", "output")
    assert (pending.status_code, pending.json()) == (470, NOT_READY)

    with ThreadPoolExecutor(1) as pool:
        attaching = pool.submit(_workflow, proc, "Review", "doc-1", "attach")
        time.sleep(0.3)
        assert not attaching.done()  # attach waits for the run
        assert _ok(proc, "Review/doc-1/submitReview", {"approved": True}) == "submitted"
        attached = attaching.result(timeout=20)
    expected = {"doc": "design.md", "review": {"approved": True}}
    assert (attached.status_code, attached.json()) == (200, expected)
    assert attached.headers["x-restate-id"] == iid
    output = _workflow(proc, "Review", "doc-1", "output")
    assert (output.status_code, output.json()) == (200, expected)

    assert _steps(traces, iid) == {"prepare": 1, "publish": 1}
    assert _ok(proc, "Review/doc-1/status") == {"status": "published"}


def test_run_submitted_twice_is_refused_while_running_and_after(server: Server) -> None:
    """A second run for the same key is a duplicate: a call answers 409 'the workflow method
    was already invoked' with the run's x-restate-id, a send 202 PreviouslyAccepted with the
    same id; before and after the run completes."""
    proc, _ = server
    iid = _send_run(proc, "Promises", "twice")

    def assert_refused() -> None:
        call = _call(proc, "Promises/twice/run")
        assert (call.status_code, call.json()) == (409, ALREADY_INVOKED)
        assert call.headers["x-restate-id"] == iid
        assert call.headers["x-restate-error-source"] == "invocation"
        send = _call(proc, "Promises/twice/run/send")
        assert send.status_code == 202
        assert send.json() == {"invocationId": iid, "status": "PreviouslyAccepted"}

    assert_refused()
    assert _ok(proc, "Promises/twice/resolve", {"name": "outcome", "value": 1}) == {"error": None}
    assert _workflow(proc, "Promises", "twice", "attach").json() == 1
    assert_refused()
    assert _workflow(proc, "Promises", "twice", "output").json() == 1


def test_output_and_attach_of_an_unknown_workflow_are_404(server: Server) -> None:
    """/output and /attach of a workflow key whose run was never submitted answer 404."""
    proc, _ = server
    for verb in ("output", "attach"):
        response = _workflow(proc, "Promises", "never-submitted", verb)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


# -- promises ----------------------------------------------------------------------------------


def test_peek_gives_none_before_and_the_value_after_resolution(server: Server) -> None:
    """peek does not wait: None while the promise is pending, its value once resolved."""
    proc, _ = server
    assert _ok(proc, "Promises/peeking/peek", "p") == {"peeked": None}
    assert _ok(proc, "Promises/peeking/resolve", {"name": "p", "value": [4, 2]}) == {"error": None}
    assert _ok(proc, "Promises/peeking/peek", "p") == {"peeked": [4, 2]}
    assert _ok(proc, "Promises/peeking/peek", "other") == {"peeked": None}


def test_second_completion_of_a_promise_raises_409_and_keeps_the_first_value(
    server: Server,
) -> None:
    """Resolving or rejecting an already resolved promise raises TerminalError 409 'promise was
    already completed' in a handler awaiting the resolution (one not awaiting it sees nothing);
    the stored value stays the first one."""
    proc, _ = server
    conflict = {"error": {"code": 409, "message": "promise was already completed"}}
    assert _ok(proc, "Promises/twice-resolved/resolve", {"name": "p", "value": "first"}) == {
        "error": None
    }
    assert _ok(proc, "Promises/twice-resolved/resolve", {"name": "p", "value": "second"}) == (
        conflict
    )
    rejection = {"name": "p", "message": "too late", "code": 400}
    assert _ok(proc, "Promises/twice-resolved/reject", rejection) == conflict
    unawaited = {"name": "p", "value": "third"}
    assert _ok(proc, "Promises/twice-resolved/resolve_unawaited", unawaited) == "not awaited"
    assert _ok(proc, "Promises/twice-resolved/peek", "p") == {"peeked": "first"}
    assert _ok(proc, "Promises/twice-resolved/wait", "p") == {"value": "first"}


def test_rejected_promise_fails_its_awaiters_with_message_and_code(server: Server) -> None:
    """Rejecting a promise the run awaits makes the await raise TerminalError(message, code):
    uncaught, it fails the run and attach/output answer that code; a shared handler awaiting
    or peeking at it later gets the same failure."""
    proc, _ = server
    iid = _send_run(proc, "Promises", "rejected")
    _suspended(proc, iid)
    rejection = {"name": "outcome", "message": "not approved", "code": 422}
    assert _ok(proc, "Promises/rejected/reject", rejection) == {"error": None}

    failure = {"code": 422, "message": "not approved", "source": "invocation"}
    for verb in ("attach", "output"):
        response = _workflow(proc, "Promises", "rejected", verb)
        assert (response.status_code, response.json()) == (422, failure)
    assert _ok(proc, "Promises/rejected/wait", "outcome") == {
        "error": {"code": 422, "message": "not approved"}
    }
    peeked = _call(proc, "Promises/rejected/peek", "outcome")  # peek raises the failure too
    assert (peeked.status_code, peeked.json()) == (422, failure)


def test_promise_resolved_before_anyone_awaits_is_delivered_when_awaited(server: Server) -> None:
    """A promise resolved before the run exists is stored: the run, submitted afterwards, gets
    its value at once, and so does a shared handler awaiting it."""
    proc, _ = server
    assert _ok(proc, "Promises/early/resolve", {"name": "outcome", "value": "early"}) == {
        "error": None
    }
    response = _call(proc, "Promises/early/run")
    assert (response.status_code, response.json()) == (200, "early")
    assert _ok(proc, "Promises/early/wait", "outcome") == {"value": "early"}


def test_onboarding_run_waits_for_three_promises_in_turn(server: Server) -> None:
    """The run awaits three promises one after the other, suspending before each; resolving
    them in turn completes it with the three values, each step having run once."""
    proc, traces = server
    iid = _send_run(proc, "Onboarding", "ada", "ada@example.com")
    for n, stage in enumerate(ONBOARDING_STAGES, start=1):
        _suspended(proc, iid)
        assert _promise_waits(proc, iid) == n
        assert _ok(proc, "Onboarding/ada/complete", {"stage": stage, "value": f"{stage}!"}) == (
            "completed"
        )
    response = _workflow(proc, "Onboarding", "ada", "attach")
    assert (response.status_code, response.json()) == (
        200,
        {"user": "ada@example.com", "stages": [f"{s}!" for s in ONBOARDING_STAGES]},
    )
    assert _steps(traces, iid) == {f"after-{s}": 1 for s in ONBOARDING_STAGES}


def test_run_hands_its_result_to_a_shared_handler_through_a_promise(server: Server) -> None:
    """A shared handler awaiting a promise the run resolves suspends until then, and returns
    the value the run computed (once)."""
    proc, traces = server
    iid = _send_run(proc, "Handoff", "h1")
    waiter = httpx.post(
        f"{proc.url}/Handoff/h1/result/send", headers={"idempotency-key": "w"}, timeout=10
    )
    assert waiter.status_code == 202, waiter.text
    waiter_id = waiter.json()["invocationId"]
    _suspended(proc, iid)
    _suspended(proc, waiter_id)

    assert _ok(proc, "Handoff/h1/go") == "going"
    run_result = _workflow(proc, "Handoff", "h1", "attach")
    assert run_result.status_code == 200
    handed = httpx.get(f"{proc.url}/restate/invocation/Handoff/h1/result/w/attach", timeout=20)
    assert (handed.status_code, handed.json()) == (200, run_result.json())
    assert run_result.json().startswith("result-")
    assert _steps(traces, iid) == {"compute": 1}


# -- retention ---------------------------------------------------------------------------------


def test_retention_keeps_the_workflow_until_it_ends_then_purges_it(server: Server) -> None:
    """With workflow_retention=2s, output, state and promises stay readable right after the
    run and 1 s before retention ends (as announced by idempotency-expires); once it ends (not
    before) output answers 404, a shared handler sees neither state nor promise, and a new run
    for the key is accepted as a new workflow."""
    proc, _ = server
    retention = RETENTION.total_seconds()
    submitted = time.time()
    first = _call(proc, "Brief/b1/run", "first")
    completed = time.time()
    assert (first.status_code, first.json()) == (200, "first")
    expires = datetime.fromisoformat(first.headers["idempotency-expires"]).timestamp()
    assert submitted + retention - 0.01 <= expires <= completed + retention + 0.01
    retained = {"state": "first", "promise": "first"}
    assert _workflow(proc, "Brief", "b1", "output").json() == "first"
    assert _ok(proc, "Brief/b1/read") == retained

    time.sleep(max(0.0, expires - 1.0 - time.time()))
    assert _workflow(proc, "Brief", "b1", "output").json() == "first"
    assert _ok(proc, "Brief/b1/read") == retained

    def purged() -> httpx.Response | None:
        response = _workflow(proc, "Brief", "b1", "output")
        return response if response.status_code == 404 else None

    gone = wait_until(purged, 3, "the workflow to be purged")
    assert time.time() >= expires - 0.01  # not before retention ends
    assert gone.json() == NOT_FOUND
    assert _ok(proc, "Brief/b1/read") == {"state": None, "promise": None}

    second = _call(proc, "Brief/b1/run", "second")
    assert (second.status_code, second.json()) == (200, "second")
    assert second.headers["x-restate-id"] == first.headers["x-restate-id"]
    assert _ok(proc, "Brief/b1/read") == {"state": "second", "promise": "second"}


# -- crashes -----------------------------------------------------------------------------------


def test_review_wait_survives_kill(crashable: Server) -> None:
    """kill -9 while the run is suspended on the review promise: after a restart the run is
    still the key's only run, the review resolves it, it completes with it, and no step ran
    twice."""
    proc, traces = crashable
    iid = _send_run(proc, "Review", "doc-k", "crash.md")
    _suspended(proc, iid)
    proc.kill()
    proc.start()
    assert _workflow(proc, "Review", "doc-k", "output").json() == NOT_READY
    again = _call(proc, "Review/doc-k/run", "other.md")
    assert (again.status_code, again.json()) == (409, ALREADY_INVOKED)
    assert _ok(proc, "Review/doc-k/submitReview", "lgtm") == "submitted"
    response = _workflow(proc, "Review", "doc-k", "attach")
    assert (response.status_code, response.json()) == (200, {"doc": "crash.md", "review": "lgtm"})
    assert _steps(traces, iid) == {"prepare": 1, "publish": 1}


def test_promise_resolution_answered_survives_an_immediate_kill(crashable: Server) -> None:
    """kill -9 right after submitReview answered 200, before the run could finish: after a
    restart the run completes with the review (the resolution was durable when answered)."""
    proc, traces = crashable
    iid = _send_run(proc, "Review", "doc-r", "fast.md")
    _suspended(proc, iid)
    assert _ok(proc, "Review/doc-r/submitReview", "ship it") == "submitted"
    proc.kill()
    proc.start()
    response = _workflow(proc, "Review", "doc-r", "attach")
    assert (response.status_code, response.json()) == (200, {"doc": "fast.md", "review": "ship it"})
    steps = _steps(traces, iid)
    assert steps["prepare"] == 1
    assert steps["publish"] in (1, 2)  # at least once: the kill may catch it in flight


def test_onboarding_waits_survive_a_kill_between_each_promise(crashable: Server) -> None:
    """kill -9 before the first promise and between the others: after each restart the run
    is still waiting for the next stage, and in the end it completes with all three values,
    every step having run once."""
    proc, traces = crashable
    iid = _send_run(proc, "Onboarding", "grace", "grace@example.com")
    for n, stage in enumerate(ONBOARDING_STAGES, start=1):
        _suspended(proc, iid)
        assert _promise_waits(proc, iid) == n
        proc.kill()
        proc.start()
        assert describe(proc.admin_url, iid)["status"] == "suspended"
        assert _ok(proc, "Onboarding/grace/complete", {"stage": stage, "value": n}) == "completed"
    response = _workflow(proc, "Onboarding", "grace", "attach")
    assert (response.status_code, response.json()) == (
        200,
        {"user": "grace@example.com", "stages": [1, 2, 3]},
    )
    assert _steps(traces, iid) == {f"after-{s}": 1 for s in ONBOARDING_STAGES}


def test_external_signalling_wait_survives_kill(crashable: Server) -> None:
    """kill -9 while the run waits for `go` and a shared handler waits for the run's result:
    after a restart both complete with the same value, computed once."""
    proc, traces = crashable
    iid = _send_run(proc, "Handoff", "h-k")
    waiter = httpx.post(
        f"{proc.url}/Handoff/h-k/result/send", headers={"idempotency-key": "w"}, timeout=10
    )
    assert waiter.status_code == 202, waiter.text
    _suspended(proc, iid)
    _suspended(proc, waiter.json()["invocationId"])
    proc.kill()
    proc.start()

    assert _ok(proc, "Handoff/h-k/go") == "going"
    run_result = _workflow(proc, "Handoff", "h-k", "attach")
    handed = httpx.get(f"{proc.url}/restate/invocation/Handoff/h-k/result/w/attach", timeout=20)
    assert run_result.status_code == 200
    assert (handed.status_code, handed.json()) == (200, run_result.json())
    assert _steps(traces, iid) == {"compute": 1}
