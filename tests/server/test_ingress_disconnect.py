"""A waiting request whose client disconnects lets go of its waiter (in-process server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.support.server import free_port

import wakeful as restate
from wakeful import Context, Service
from wakeful.journal.ids import AwakeableId, InvocationId
from wakeful.server.ingress import IngressApp
from wakeful.server.runtime import Runtime, RuntimeSettings

CHECK_AFTER_S = 0.05

waits = Service("Waits")


@waits.handler()
async def wait(ctx: Context) -> str:
    """Wait on the invocation's first awakeable (its id is derived from the invocation id)."""
    _, answer = ctx.awakeable(type_hint=str)
    return await answer


@dataclass
class Served:
    runtime: Runtime
    url: str
    port: int


async def _until(condition: Callable[[], bool], within_s: float = 5.0) -> bool:
    """Poll `condition` until it holds (True) or `within_s` passes (False)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    runtime = Runtime(restate.app(services=[waits]), RuntimeSettings(data_dir=tmp_path))
    await runtime.start()
    port = free_port()
    config = uvicorn.Config(
        IngressApp(runtime, disconnect_check_after_s=CHECK_AFTER_S),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    assert await _until(lambda: bool(server.started))
    try:
        yield Served(runtime, f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        await runtime.stop()


async def _start_waiting(client: httpx.AsyncClient) -> InvocationId:
    sent = await client.post("/Waits/wait/send")
    assert sent.status_code == 202, sent.text
    return InvocationId.parse(sent.json()["invocationId"])


async def test_attach_of_a_vanished_client_is_forgotten(served: Served) -> None:
    """An attach whose connection closes leaves no waiter behind while the invocation waits."""
    leader = served.runtime.leader
    async with httpx.AsyncClient(base_url=served.url) as client:
        iid = await _start_waiting(client)
        _reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        request = f"GET /restate/invocation/{iid}/attach HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        assert await _until(lambda: len(leader._waiters.get(iid, [])) == 1)
        writer.close()
        assert await _until(lambda: iid not in leader._waiters)
        # The invocation itself goes on waiting, and a new attach still gets its result.
        attach = asyncio.ensure_future(client.get(f"/restate/invocation/{iid}/attach"))
        await asyncio.sleep(CHECK_AFTER_S * 4)  # past the check: the watcher is running
        resolved = await client.post(
            f"/restate/awakeables/{AwakeableId(iid, 17)}/resolve", json="yes"
        )
        assert resolved.status_code == 202
        answer = await asyncio.wait_for(attach, 10)
        assert answer.status_code == 200
        assert answer.json() == "yes"
        assert iid not in leader._waiters


async def test_call_of_a_vanished_client_is_forgotten(served: Served) -> None:
    """A call (request-response) whose client goes away drops its waiter too."""
    leader = served.runtime.leader
    _reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"POST /Waits/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    assert await _until(lambda: sum(len(w) for w in leader._waiters.values()) == 1)
    writer.close()
    assert await _until(lambda: not leader._waiters)
