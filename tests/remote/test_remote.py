"""Remote deployments end to end: the official restate-sdk served by hypercorn as a real
endpoint (bidi over h2c, and request/response over HTTP/1.1), registered with a real wakeful
server that also runs in-process services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.remote.local_app import APP
from tests.remote.support import Endpoint, awakeable_of, register, runs, wait_for
from tests.support.server import WakefulProcess


@pytest.fixture(scope="module", params=["h2c", "http1"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WakefulProcess, Endpoint]]:
    """A server with the local app and one registered endpoint, per protocol mode."""
    root = tmp_path_factory.mktemp(f"remote-{request.param}")
    endpoint = Endpoint(request.param, root / "runs.txt").start()
    server = WakefulProcess(app=APP, data_dir=root / "data").start()
    try:
        assert register(server.admin_url, endpoint).status_code == 201
        yield server, endpoint
    finally:
        server.stop()
        endpoint.kill()


def _call(server: WakefulProcess, path: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(f"{server.url}/{path}", json=body, timeout=30, **kw)  # type: ignore[arg-type]  # passthrough


def _send(server: WakefulProcess, path: str, body: object) -> str:
    response = _call(server, f"{path}/send", body)
    assert response.status_code == 202, response.text
    return str(response.json()["invocationId"])


def _attach(server: WakefulProcess, iid: str) -> httpx.Response:
    return httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=30)


def _status(server: WakefulProcess, iid: str) -> str:
    return str(httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=10).json()["status"])


def test_awakeable_resolved_over_http(world: tuple[WakefulProcess, Endpoint]) -> None:
    """A remote handler suspends on an awakeable and resumes when curl resolves it."""
    server, endpoint = world
    doc = f"doc-{uuid.uuid4().hex[:8]}"
    iid = _send(server, "RemoteApprovals/request", doc)
    awakeable = awakeable_of(endpoint, doc)
    wait_for(lambda: _status(server, iid) == "suspended")
    resolved = httpx.post(
        f"{server.url}/restate/awakeables/{awakeable}/resolve", json="approved", timeout=10
    )
    assert resolved.status_code == 202
    assert _attach(server, iid).json() == f"{doc}: approved"
    assert [line for line in runs(endpoint) if line.startswith(doc)] == [f"{doc} {awakeable}"]


def test_awakeable_rejected_over_http(world: tuple[WakefulProcess, Endpoint]) -> None:
    """A rejection reaches the remote handler as a TerminalError and fails the invocation."""
    server, endpoint = world
    doc = f"doc-{uuid.uuid4().hex[:8]}"
    iid = _send(server, "RemoteApprovals/request", doc)
    awakeable = awakeable_of(endpoint, doc)
    httpx.post(
        f"{server.url}/restate/a/{awakeable}/reject",
        content=b"insufficient",
        headers={"content-type": "text/plain"},
        timeout=10,
    )
    answer = _attach(server, iid)
    assert answer.status_code == 500
    assert "insufficient" in answer.text


@pytest.mark.parametrize("resolver", ["LocalGreeter/resolve_remote", "RemoteApprovals/resolve"])
def test_awakeable_resolved_by_another_handler(
    world: tuple[WakefulProcess, Endpoint], resolver: str
) -> None:
    """An in-process handler and a remote handler can both resolve a remote awakeable."""
    server, endpoint = world
    doc = f"doc-{uuid.uuid4().hex[:8]}"
    iid = _send(server, "RemoteApprovals/request", doc)
    awakeable = awakeable_of(endpoint, doc)
    assert _call(server, resolver, {"id": awakeable, "value": "yes"}).status_code == 200
    assert _attach(server, iid).json() == f"{doc}: yes"


def test_workflow_promise(world: tuple[WakefulProcess, Endpoint]) -> None:
    """A remote workflow waits on its durable promise; a shared handler resolves it."""
    server, _ = world
    key = uuid.uuid4().hex[:8]
    _send(server, f"RemoteReview/{key}/run", "contract")
    assert _call(server, f"RemoteReview/{key}/submit", "signed").status_code == 200
    out = httpx.get(f"{server.url}/restate/workflow/RemoteReview/{key}/attach", timeout=30)
    assert out.json() == "contract: signed"
    again = _call(server, f"RemoteReview/{key}/run", "other")
    assert again.status_code == 409


def test_virtual_object_queues_behind_a_waiting_handler(
    world: tuple[WakefulProcess, Endpoint],
) -> None:
    """An exclusive remote handler waiting on an awakeable holds its key: the next call queues."""
    server, endpoint = world
    key = uuid.uuid4().hex[:8]
    holder = _send(server, f"RemoteCounter/{key}/hold", None)
    awakeable = awakeable_of(endpoint, "hold", timeout=20)
    while not any(line.endswith(awakeable) for line in runs(endpoint)):
        pass
    queued = _send(server, f"RemoteCounter/{key}/add", 3)
    wait_for(lambda: _status(server, queued) == "inboxed")
    httpx.post(f"{server.url}/restate/awakeables/{awakeable}/resolve", json="done", timeout=10)
    assert _attach(server, holder).json() == "done"
    assert _attach(server, queued).json() == 3
    assert _call(server, f"RemoteCounter/{key}/add", 4).json() == 7


def test_timer_races_an_awakeable(world: tuple[WakefulProcess, Endpoint]) -> None:
    """select() between an awakeable and a durable sleep: the timer wins when nobody answers."""
    server, _ = world
    assert _call(server, "RemoteApprovals/race", 300).json() == "timeout"


def test_calls_between_in_process_and_remote(world: tuple[WakefulProcess, Endpoint]) -> None:
    """A remote handler calls an in-process one, and an in-process handler a remote one."""
    server, _ = world
    assert _call(server, "RemoteApprovals/call_local", "ann").json() == 'remote got "hello ann"'
    first = _call(server, "LocalGreeter/call_remote", 2).json()
    assert first.startswith("local got ")


def test_cancellation_runs_compensation(world: tuple[WakefulProcess, Endpoint]) -> None:
    """Cancelling a suspended remote invocation raises 409 in the handler, which compensates."""
    server, endpoint = world
    iid = _send(server, "RemoteApprovals/cancellable", None)
    wait_for(lambda: _status(server, iid) == "suspended")
    before = runs(endpoint).count("compensated")
    cancel = httpx.patch(f"{server.admin_url}/invocations/{iid}/cancel", timeout=10)
    assert cancel.status_code == 202
    answer = _attach(server, iid)
    assert answer.status_code == 409
    assert "compensated after cancelled" in answer.text
    assert runs(endpoint).count("compensated") == before + 1


def test_runs_are_journaled(world: tuple[WakefulProcess, Endpoint]) -> None:
    """Several ctx.run steps: each result is recorded, the handler sums them."""
    server, _ = world
    response = _call(server, "RemoteApprovals/steps", 4)
    assert response.json() == 10
    journal = httpx.get(
        f"{server.admin_url}/invocations/{response.headers['x-restate-id']}", timeout=10
    ).json()["journal"]
    assert sum(1 for e in journal if e["entry"].startswith("Run(")) == 4


def test_deployment_admin_api(world: tuple[WakefulProcess, Endpoint], tmp_path: Path) -> None:
    """Registration answers 201, then 200 (unchanged, or replaced with force); lists, shows,
    deletes; bad requests are 4xx and unreachable endpoints 500, with a JSON message."""
    server, endpoint = world
    again = register(server.admin_url, endpoint)
    assert again.status_code == 200
    forced = register(server.admin_url, endpoint, force=True)
    assert forced.status_code == 200
    assert forced.json()["id"] == again.json()["id"]
    assert forced.headers["location"] == f"deployments/{forced.json()['id']}"
    listed = httpx.get(f"{server.admin_url}/deployments", timeout=10).json()["deployments"]
    (mine,) = [d for d in listed if d["id"] == forced.json()["id"]]
    assert mine["protocol_type"] == ("RequestResponse" if endpoint.use_http_11 else "BidiStream")
    assert {s["name"] for s in mine["services"]} == {
        "RemoteApprovals",
        "RemoteCounter",
        "RemoteReview",
    }
    detail = httpx.get(f"{server.admin_url}/deployments/{mine['id']}", timeout=10).json()
    counter = next(s for s in detail["services"] if s["name"] == "RemoteCounter")
    assert counter["ty"] == "VirtualObject"
    assert {h["name"]: h["ty"] for h in counter["handlers"]} == {
        "add": "Exclusive",
        "hold": "Exclusive",
    }
    service = httpx.get(f"{server.admin_url}/services/RemoteReview", timeout=10).json()
    assert service["deployment_id"] == mine["id"]
    local = httpx.get(f"{server.admin_url}/services/LocalGreeter", timeout=10).json()
    assert local["deployment_id"] == "in-process"
    bad = httpx.post(f"{server.admin_url}/deployments", json={"uri": "nope"}, timeout=10)
    assert bad.status_code == 400
    assert "uri" in bad.json()["message"]
    gone = httpx.post(
        f"{server.admin_url}/deployments", json={"uri": "http://127.0.0.1:9"}, timeout=30
    )
    assert gone.status_code == 500
    assert "cannot reach" in gone.json()["message"]
    assert (
        httpx.delete(f"{server.admin_url}/deployments/{mine['id']}", timeout=10).status_code == 501
    )
    assert httpx.delete(f"{server.admin_url}/deployments/dp_1nope", timeout=10).status_code == 404
    missing = httpx.get(f"{server.admin_url}/services/Nope", timeout=10)
    assert missing.status_code == 404
