"""Graceful shutdown of a real `wakeful serve` process: SIGTERM drains to a durable point within
a bound, a second signal exits at once, and nothing answered is lost either way."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from tests.e2e.apps_durability import wait_until
from tests.ops.apps_ops import APP, TRACES_ENV
from tests.support.server import WakefulProcess


def _server(root: Path, *args: str, inactivity: str = "0") -> WakefulProcess:
    root.mkdir(parents=True, exist_ok=True)
    return WakefulProcess(
        app=APP,
        data_dir=root / "data",
        inactivity_timeout=inactivity,
        env={TRACES_ENV: str(root)},
        extra_args=list(args),
    )


def _signal_and_wait(server: WakefulProcess, within: float) -> tuple[int, float]:
    """SIGTERM the server; its exit code and how long it took (fails after `within` s)."""
    assert server.process is not None
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(within)
    server.process = None
    return code, time.monotonic() - started


def _status(server: WakefulProcess, iid: str) -> str:
    found: str = httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=5).json()["status"]
    return found


async def _load(server: WakefulProcess, count: int, sent: list[str], added: dict[str, int]) -> None:
    """`count` sends of Slow/step and `count` Counter/add calls with idempotency keys, all at
    once; collects the ids of the answered sends and the answered call results by key."""
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(server.url, connector=connector, timeout=timeout) as client:

        async def send(i: int) -> None:
            async with client.post("/Slow/step/send", json=0.2) as answer:
                if answer.status == 202:
                    sent.append((await answer.json())["invocationId"])

        async def add(i: int) -> None:
            key = f"add-{i}"
            headers = {"idempotency-key": key}
            async with client.post(f"/Counter/c{i}/add", json=1, headers=headers) as answer:
                if answer.status == 200:
                    added[key] = await answer.json()

        async def one(call: Callable[[int], Awaitable[None]], i: int) -> None:
            # Not answered (the server went away first): nothing was promised for it.
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                await call(i)

        await asyncio.gather(*(one(f, i) for i in range(count) for f in (send, add)))


def test_sigterm_during_load_loses_nothing(tmp_path: Path) -> None:
    """Every send and call answered before a SIGTERM under load completes after a restart, each
    `ctx.run` body ran once (running steps finished durably), and the exit was prompt."""
    server = _server(tmp_path).start()

    async def load_then_term() -> tuple[list[str], dict[str, int], int, float]:
        sent: list[str] = []
        added: dict[str, int] = {}
        loading = asyncio.create_task(_load(server, 1500, sent, added))
        for _ in range(3000):  # until it is under way, on a machine of any speed
            if (len(sent) >= 100 and len(added) >= 100) or loading.done():
                break
            await asyncio.sleep(0.01)
        code, took = await asyncio.to_thread(_signal_and_wait, server, 20)
        await loading
        return sent, added, code, took

    sent, added, code, took = asyncio.run(load_then_term())
    assert code == 0
    assert took < 10  # well under the 10 s shutdown timeout: 0.2 s steps finish quickly
    assert 0 < len(sent) < 1500, "the SIGTERM must land in the middle of the load"
    assert 0 < len(added) < 1500

    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            for iid in sent:
                attached = client.get(f"/restate/invocation/{iid}/attach")
                assert attached.json() == f"{iid}:done"
            for key, total in added.items():
                target = f"Counter/c{key.split('-')[1]}/add"
                output = client.get(f"/restate/invocation/{target}/{key}/output")
                assert output.status_code == 200, output.text
                assert output.json() == total
        steps = Counter((tmp_path / "steps.log").read_text().split())
        assert all(steps[iid] == 1 for iid in sent), "a step body ran twice or never"
    finally:
        server.stop()


def test_waiting_handler_suspends_at_sigterm(tmp_path: Path) -> None:
    """A handler kept in memory by a long inactivity timeout suspends at once on SIGTERM; after a
    restart it is suspended (not re-run) and the resolve completes it."""
    server = _server(tmp_path, inactivity="1h").start()
    answer = httpx.post(f"{server.url}/Waiter/wait/send", json="w", timeout=10)
    iid = answer.json()["invocationId"]
    log = tmp_path / "awakeables.log"
    awakeable = wait_until(lambda: log.exists() and log.read_text().split()[1:2], 10, "awakeable")
    assert _status(server, iid) == "running"  # in memory, waiting
    code, took = _signal_and_wait(server, 10)
    assert code == 0
    assert took < 3

    server.start()
    try:
        assert _status(server, iid) == "suspended"
        resolved = httpx.post(
            f"{server.url}/restate/awakeables/{awakeable[0]}/resolve", json="yes", timeout=10
        )
        assert resolved.status_code == 202
        attached = httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=10)
        assert attached.json() == "w:yes"
    finally:
        server.stop()


def test_shutdown_is_bounded_and_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    """A step longer than --shutdown-timeout does not hold the exit past it; during the wait a
    second SIGTERM exits at once; the invocation is recovered and re-run after a restart."""
    server = _server(tmp_path, "--shutdown-timeout", "1s").start()
    first = httpx.post(f"{server.url}/Slow/step/send", json=60, timeout=10).json()["invocationId"]
    time.sleep(0.3)  # the step is running
    code, took = _signal_and_wait(server, 10)
    assert code == 0
    assert 0.9 < took < 5  # waited for the step, then gave up at the bound

    server.extra_args = ["--shutdown-timeout", "30s"]
    server.start()
    assert _status(server, first) == "running"  # recovered: a new attempt runs the step again
    second = httpx.post(f"{server.url}/Slow/step/send", json=60, timeout=10).json()["invocationId"]
    time.sleep(0.3)
    assert server.process is not None
    process = server.process
    process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert process.poll() is None  # draining: waits for the 60 s steps
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(5) == 1
    assert time.monotonic() - started < 2
    server.process = None

    server.extra_args = []
    server.start()
    try:
        for iid in (first, second):
            assert _status(server, iid) == "running"
    finally:
        server.kill()
