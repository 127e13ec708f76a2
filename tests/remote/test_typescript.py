"""The TypeScript SDK (`@restatedev/restate-sdk` on Node 22) as a remote endpoint: the
External Events flows of Restate's TS docs, in both protocol modes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.remote.local_app import APP
from tests.remote.support import Endpoint, awakeable_of, register, ts_program, wait_for
from tests.support.server import WakefulProcess


@pytest.fixture(scope="module", params=["h2c", "http1"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WakefulProcess, Endpoint]]:
    """A server with the TS endpoint registered, per protocol mode."""
    root = tmp_path_factory.mktemp(f"ts-{request.param}")
    endpoint = Endpoint(request.param, root / "runs.txt", ts_program()).start()
    server = WakefulProcess(app=APP, data_dir=root / "data").start()
    try:
        registered = register(server.admin_url, endpoint)
        assert registered.status_code == 201, registered.text
        protocol = registered.json()
        assert protocol["max_protocol_version"] >= 5
        yield server, endpoint
    finally:
        server.stop()
        endpoint.kill()


def test_ts_awakeable_resolve_and_reject(world: tuple[WakefulProcess, Endpoint]) -> None:
    """A TS handler suspends on an awakeable; curl resolves one and rejects another."""
    server, endpoint = world
    outcomes = {}
    for verb in ("resolve", "reject"):
        doc = f"ts-{uuid.uuid4().hex[:8]}"
        sent = httpx.post(f"{server.url}/TsApprovals/request/send", json=doc, timeout=10)
        iid = sent.json()["invocationId"]
        awakeable = awakeable_of(endpoint, doc)
        wait_for(
            lambda iid=iid: (
                httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=10).json()["status"]
                == "suspended"
            )
        )
        if verb == "resolve":
            answer = httpx.post(
                f"{server.url}/restate/awakeables/{awakeable}/resolve", json="fine", timeout=10
            )
        else:
            answer = httpx.post(
                f"{server.url}/restate/awakeables/{awakeable}/reject",
                content=b"not fine",
                headers={"content-type": "text/plain"},
                timeout=10,
            )
        assert answer.status_code == 202
        outcomes[verb] = (
            doc,
            httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=30),
        )
    doc, resolved = outcomes["resolve"]
    assert resolved.json() == f"{doc}: fine"
    _, rejected = outcomes["reject"]
    assert rejected.status_code == 500
    assert "not fine" in rejected.text


def test_ts_workflow_promise(world: tuple[WakefulProcess, Endpoint]) -> None:
    """A TS workflow waits on a durable promise that its shared handler resolves."""
    server, _ = world
    key = uuid.uuid4().hex[:8]
    sent = httpx.post(f"{server.url}/TsReview/{key}/run/send", json="contract", timeout=10)
    assert sent.status_code == 202
    submitted = httpx.post(f"{server.url}/TsReview/{key}/submit", json="approved", timeout=30)
    assert submitted.status_code == 200
    out = httpx.get(f"{server.url}/restate/workflow/TsReview/{key}/attach", timeout=30)
    assert out.json() == "contract: approved"
