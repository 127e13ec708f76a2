"""Crash tests with a remote deployment: kill -9 of the server with many remote invocations
waiting, and kill -9 of the endpoint in the middle of an attempt."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from tests.remote.local_app import APP
from tests.remote.support import Endpoint, register, runs, wait_for
from tests.support.server import WakefulProcess

WAITING = 200


async def _send_all(url: str, docs: list[str]) -> list[str]:
    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(
            *(client.post(f"{url}/RemoteApprovals/request/send", json=doc) for doc in docs)
        )
    return [a.json()["invocationId"] for a in answers]


async def _resolve_and_attach(url: str, awakeables: dict[str, str], ids: list[str]) -> list[str]:
    async with httpx.AsyncClient(timeout=120) as client:
        resolved = await asyncio.gather(
            *(
                client.post(f"{url}/restate/awakeables/{a}/resolve", json=f"ok-{doc}")
                for doc, a in awakeables.items()
            )
        )
        assert {r.status_code for r in resolved} == {202}
        outputs = await asyncio.gather(
            *(client.get(f"{url}/restate/invocation/{i}/attach") for i in ids)
        )
    return [o.json() for o in outputs]


def _suspended(server: WakefulProcess) -> int:
    listed = httpx.get(
        f"{server.admin_url}/invocations", params={"status": "suspended", "limit": 1000}, timeout=10
    )
    return len(listed.json()["invocations"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["h2c", "http1"])
def test_server_kill_with_many_remote_invocations_waiting(tmp_path: Path, mode: str) -> None:
    """200 remote invocations wait on awakeables; the server is killed with -9 and restarted;
    all are resolved and complete, and every ctx.run body ran once (its result was recorded
    before the kill)."""
    endpoint = Endpoint(mode, tmp_path / "runs.txt").start()
    server = WakefulProcess(app=APP, data_dir=tmp_path / "data").start()
    try:
        assert register(server.admin_url, endpoint).status_code == 201
        docs = [f"crash-{uuid.uuid4().hex[:10]}" for _ in range(WAITING)]
        ids = asyncio.run(_send_all(server.url, docs))
        wait_for(lambda: _suspended(server) == WAITING, timeout=120)
        server.kill()
        server.start()
        lines = runs(endpoint)
        awakeables = {
            line.split()[0]: line.split()[1] for line in lines if line.startswith("crash-")
        }
        assert set(awakeables) == set(docs)
        outputs = asyncio.run(_resolve_and_attach(server.url, awakeables, ids))
        assert outputs == [f"{doc}: ok-{doc}" for doc in docs]
        notified = [line.split()[0] for line in runs(endpoint) if line.startswith("crash-")]
        assert sorted(notified) == sorted(docs)  # each body once, none after the restart
    finally:
        server.kill()
        endpoint.kill()


@pytest.mark.parametrize("mode", ["h2c", "http1"])
def test_endpoint_kill_mid_attempt(tmp_path: Path, mode: str) -> None:
    """The endpoint is killed with -9 while a ctx.run body runs; the attempt fails, is retried
    once the endpoint is back, and completes; the step recorded before the kill is not run
    again."""
    endpoint = Endpoint(mode, tmp_path / "runs.txt").start()
    server = WakefulProcess(app=APP, data_dir=tmp_path / "data").start()
    try:
        assert register(server.admin_url, endpoint).status_code == 201
        tag = f"mid-{uuid.uuid4().hex[:8]}"
        sent = httpx.post(f"{server.url}/RemoteApprovals/crashy/send", json=tag, timeout=10)
        iid = sent.json()["invocationId"]
        wait_for(lambda: f"{tag} second" in runs(endpoint))
        endpoint.kill()
        status = httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=10).json()
        wait_for(
            lambda: (
                httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=10).json()["retry_count"]
                >= 1
            )
        )
        assert status["status"] in ("running", "backing-off")
        endpoint.start()
        out = httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=60)
        assert out.json() == f"{tag} first second"
        assert runs(endpoint).count(f"{tag} first") == 1
        assert runs(endpoint).count(f"{tag} second") == 2
    finally:
        server.kill()
        endpoint.kill()
