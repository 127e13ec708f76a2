"""Calls between handlers over a real server: `ctx.service_call` results and terminal errors,
durable one-way sends (also delayed with `send_delay`), the callee's invocation id,
`ctx.attach_invocation`, idempotency keys, headers and generic calls, and delayed ingress sends
(`?delay=`), across `kill -9` too.

The server runs with `--inactivity-timeout 0`: a caller suspends while its callee runs, and is
resumed by replay when the call's completion arrives.
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


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> Server:
    """One server with `--inactivity-timeout 0` for the module, and its trace reader."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="calls")
    return process, Traces(process.traces_dir)


def _call(proc: WakefulProcess, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{proc.url}/{path}", json=body, timeout=20)


def _records(traces: Traces, tag: str, count: int = 1) -> list[tuple[str, float]]:
    """Wait until Callee/record ran `count` times for `tag`; its executions."""
    return wait_until(
        lambda: (found := traces.records(tag)) and len(found) >= count and found,
        10,
        f"Callee/record to run for {tag}",
    )


def test_service_call_result_reaches_the_caller(server: Server) -> None:
    """The callee's result is the value of the caller's awaited call future."""
    proc, _ = server
    response = _call(proc, "Caller/call_greet", "ada")
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "hello ada"


def test_call_future_invocation_id_is_the_callees_id(server: Server) -> None:
    """`await future.invocation_id()` is the id of the invocation the call created: the admin
    API shows it as a completed Callee/greet with the result the caller got."""
    proc, _ = server
    response = _call(proc, "Caller/call_greet", "grace")
    assert response.status_code == 200, response.text
    callee = response.json()["callee"]
    info = describe(proc.admin_url, callee)
    assert info["target"] == "Callee/greet"
    assert info["status"] == "completed"
    assert json.loads(info["result"]["value"]) == "hello grace"
    caller_id = response.headers["x-restate-id"]
    caller_journal = [row["entry"] for row in describe(proc.admin_url, caller_id)["journal"]]
    assert "Call(Callee/greet)" in caller_journal


def test_callee_terminal_error_reaches_the_caller_with_its_code(server: Server) -> None:
    """A TerminalError raised by the callee is raised by the caller's await, same code and
    message."""
    proc, _ = server
    response = _call(proc, "Caller/call_fail", {"code": 418, "message": "a teapot"})
    assert response.status_code == 200, response.text
    assert response.json() == {"code": 418, "message": "a teapot"}


def test_uncaught_callee_terminal_error_fails_the_caller_alike(server: Server) -> None:
    """A caller that does not catch its callee's TerminalError ends with the same code and
    message (HTTP status = the code)."""
    proc, _ = server
    response = _call(proc, "Caller/call_fail_uncaught", {"code": 422, "message": "bad order"})
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "bad order"
    assert response.json()["code"] == 422


@pytest.mark.parametrize("how", ["terminal", "error"])
def test_send_is_durable_even_if_the_caller_then_fails(server: Server, how: str) -> None:
    """A one-way send made before the caller fails (TerminalError, or a plain exception with no
    retries left) still runs, exactly once."""
    proc, traces = server
    tag = f"sent-{uuid.uuid4().hex}"
    response = _call(proc, "Caller/send_then_fail", {"tag": tag, "how": how})
    assert response.status_code == 500, response.text
    caller_id = response.headers["x-restate-id"]
    (callee_id,) = traces.callees(caller_id)

    assert attach(proc.url, callee_id).json() == tag
    assert [iid for iid, _ in _records(traces, tag)] == [callee_id]
    time.sleep(0.2)
    assert len(traces.records(tag)) == 1
    assert describe(proc.admin_url, caller_id)["result"]["failure"]["code"] == 500


def test_send_delay_starts_the_callee_after_the_delay(server: Server) -> None:
    """`service_send(..., send_delay=1.5 s)`: the callee is `scheduled` meanwhile and runs
    1.5 s after the send (not before)."""
    proc, traces = server
    tag = f"delayed-{uuid.uuid4().hex}"
    response = _call(proc, "Caller/send_later", {"tag": tag, "delay_ms": 1500})
    assert response.status_code == 200, response.text
    callee_id, sent_at = response.json()["callee"], response.json()["sent_at"]
    assert describe(proc.admin_url, callee_id)["status"] == "scheduled"
    assert traces.records(tag) == []

    assert attach(proc.url, callee_id).json() == tag
    ((iid, ran_at),) = _records(traces, tag)
    assert iid == callee_id
    assert sent_at + 1.5 <= ran_at <= sent_at + 2.5


def test_attach_invocation_waits_for_the_other_result(server: Server) -> None:
    """`ctx.attach_invocation(id)` of a running invocation completes with its result once it
    ends; attaching to it after it completed answers at once with the same result."""
    proc, traces = server
    label = f"attached-{uuid.uuid4().hex}"
    target = send(proc.url, "Callee/wait", label)
    _, awakeable = wait_until(lambda: traces.by_label(label), 10, "the awakeable")
    attacher = send(proc.url, "Caller/attach_to", target)
    wait_status(proc.admin_url, attacher, "suspended")

    resolve(proc.url, awakeable, {"answer": 42})
    assert attach(proc.url, attacher).json() == {"answer": 42}
    late = _call(proc, "Caller/attach_to", target)
    assert late.status_code == 200, late.text
    assert late.json() == {"answer": 42}


def test_attach_invocation_to_an_unknown_id_fails_with_404(server: Server) -> None:
    """`ctx.attach_invocation` of an id nobody invoked raises a TerminalError 404."""
    proc, _ = server
    unknown = str(InvocationId.random())
    response = _call(proc, "Caller/attach_to", unknown)
    assert response.status_code == 404, response.text
    assert response.json()["message"] == "invocation not found"


@pytest.mark.parametrize("delay", ["1s", "PT1S"])
def test_ingress_delayed_send_starts_after_the_delay(server: Server, delay: str) -> None:
    """`POST /Svc/h/send?delay=1s` (or ISO `PT1S`) answers 202 with the execution time; the
    invocation is `scheduled` until then and starts about a second later."""
    proc, traces = server
    tag = f"ingress-delayed-{uuid.uuid4().hex}"
    sent_at = time.time()
    response = httpx.post(
        f"{proc.url}/Callee/record/send", params={"delay": delay}, json=tag, timeout=10
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "Accepted"
    assert "executionTime" in body
    iid = body["invocationId"]
    assert describe(proc.admin_url, iid)["status"] == "scheduled"

    assert attach(proc.url, iid).json() == tag
    ((_, ran_at),) = _records(traces, tag)
    assert sent_at + 1.0 <= ran_at <= sent_at + 2.5


def test_calls_with_one_idempotency_key_share_one_invocation(server: Server) -> None:
    """Two calls with the same idempotency key made by one handler reach one invocation: the
    same callee id, the same result, and the callee's step runs once."""
    proc, traces = server
    tag = f"idempotent-{uuid.uuid4().hex}"
    response = _call(proc, "Caller/call_idempotent", {"tag": tag, "key": tag})
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["results"] == [tag, tag]
    assert out["ids"][0] == out["ids"][1]
    assert out["ids"][0] == str(InvocationId.for_idempotency_key("Callee", "record", None, tag))
    time.sleep(0.2)
    assert [iid for iid, _ in traces.records(tag)] == [out["ids"][0]]


def test_generic_call_passes_raw_bytes(server: Server) -> None:
    """`ctx.generic_call(service, handler, bytes)` reaches the handler by name and returns the
    callee's output bytes unchanged (JSON here)."""
    proc, _ = server
    response = _call(proc, "Caller/call_generic", "linus")
    assert response.status_code == 200, response.text
    assert response.json() == '"hello linus"'


def test_call_headers_reach_the_callee(server: Server) -> None:
    """`headers=` of a call are request headers of the callee."""
    proc, _ = server
    response = _call(proc, "Caller/call_with_header", "forty-two")
    assert response.status_code == 200, response.text
    assert response.json() == "forty-two"


@pytest.mark.slow
def test_delayed_send_survives_kill_and_starts_at_its_time(serve: ServerFactory) -> None:
    """A delayed ingress send (`?delay=5s`) is durable: killed with -9 while it is scheduled and
    restarted, the server starts it at its execution time, once. (5 s outlasts a restart on a
    loaded 2-core machine.)"""
    proc = serve(APP, traces_env=TRACES_ENV)
    traces = Traces(proc.traces_dir)
    try:
        tag = f"delayed-crash-{uuid.uuid4().hex}"
        sent_at = time.time()
        response = httpx.post(
            f"{proc.url}/Callee/record/send", params={"delay": "5s"}, json=tag, timeout=10
        )
        assert response.status_code == 202, response.text
        iid = response.json()["invocationId"]
        assert describe(proc.admin_url, iid)["status"] == "scheduled"
        proc.kill()
        proc.start()
        assert describe(proc.admin_url, iid)["status"] == "scheduled"

        assert attach(proc.url, iid).json() == tag
        ((ran_id, ran_at),) = _records(traces, tag)
        assert ran_id == iid
        assert sent_at + 5.0 <= ran_at <= sent_at + 6.5
    finally:
        proc.kill()
