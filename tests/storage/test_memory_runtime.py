"""The whole engine (leader, invoker, timers, recovery) on a MemoryStore: what a test harness
gets without a disk. Served on a real port; two runtimes over one MemoryDatabase stand for a
restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from tests.support.server import free_port

import wakeful as restate
from wakeful import Context, ObjectContext, Service, VirtualObject
from wakeful.engine.model import Status
from wakeful.journal.ids import FIRST_AWAKEABLE_SIGNAL, AwakeableId, InvocationId
from wakeful.server.ingress import IngressApp
from wakeful.server.runtime import Runtime, RuntimeSettings
from wakeful.storage.memory import MemoryDatabase, MemoryStore

greeter = Service("Greeter")
counter = VirtualObject("Counter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    """Wait for an awakeable (its id is derived from the invocation id by the test)."""
    awakeable_id, awakeable = ctx.awakeable()
    await ctx.run("hand out", lambda: awakeable_id)
    return f"hello {name}, {await awakeable}"


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    """Add to the key's total."""
    total = (await ctx.get("total") or 0) + n
    ctx.set("total", total)
    return int(total)


APP = restate.app(services=[greeter, counter])


@contextlib.asynccontextmanager
async def served(database: MemoryDatabase, data_dir: Path) -> AsyncIterator[str]:
    settings = RuntimeSettings(data_dir=data_dir, inactivity_timeout=timedelta(0))
    runtime = Runtime(APP, settings, store=MemoryStore(database))
    await runtime.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            IngressApp(runtime), host="127.0.0.1", port=port, log_config=None, lifespan="off"
        )
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await runtime.stop()


async def test_the_engine_runs_on_a_memory_store_across_a_restart(tmp_path: Path) -> None:
    """Object calls keep their state, and an invocation suspended on an awakeable in one
    runtime completes in the next one over the same MemoryDatabase."""
    database = MemoryDatabase()
    async with httpx.AsyncClient(timeout=30) as client:
        async with served(database, tmp_path) as url:
            for n in (1, 2, 3):
                response = await client.post(f"{url}/Counter/k/add", json=n)
            assert response.json() == 6
            sent = await client.post(f"{url}/Greeter/greet/send", json="ada")
            iid = InvocationId.parse(sent.json()["invocationId"])
            reader = MemoryStore(database)
            await reader.open()
            for _ in range(500):  # until it is suspended on its awakeable
                found = await reader.load_invocations(0, [iid])
                if iid in found and found[iid].status == Status.SUSPENDED:
                    break
                await asyncio.sleep(0.01)
            assert found[iid].status == Status.SUSPENDED
        async with served(database, tmp_path) as url:
            assert (await client.post(f"{url}/Counter/k/add", json=4)).json() == 10
            awakeable = str(AwakeableId(iid, FIRST_AWAKEABLE_SIGNAL))
            resolved = await client.post(
                f"{url}/restate/awakeables/{awakeable}/resolve", json="welcome"
            )
            assert resolved.status_code == 202, resolved.text
            result = await client.get(f"{url}/restate/invocation/{iid}/attach")
            assert result.json() == "hello ada, welcome"
