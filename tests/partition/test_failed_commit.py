"""A failed commit answers its callers 503 and the leader keeps serving (in-process server)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.partition.served import Served, serve_in_process, until

import wakeful as restate
from wakeful import Context, Service
from wakeful.storage.api import Batch

echo = Service("Echo")
gated = Service("Gated")

GATE = {"open": asyncio.Event(), "entered": asyncio.Event(), "runs": 0}


@echo.handler()
async def say(ctx: Context, text: str) -> str:
    """Answer at once."""
    return f"echo {text}"


@echo.handler()
async def poison(ctx: Context, text: str) -> str:
    """A handler whose invocations the tests' store refuses to write."""
    return text


async def _through_the_gate() -> str:
    GATE["runs"] += 1  # type: ignore[operator]
    GATE["entered"].set()  # type: ignore[union-attr]
    await GATE["open"].wait()  # type: ignore[union-attr]
    return "passed"


@gated.handler()
async def walk(ctx: Context) -> str:
    """One step that waits for the test to open the gate."""
    return await ctx.run("gate", _through_the_gate)


@gated.handler()
async def unstorable(ctx: Context) -> str:
    """A step whose result the tests' store refuses to write."""
    return await ctx.run("poison", lambda: "POISON")


DISK_FULL = sqlite3.OperationalError("database or disk is full")
ERRORS = [
    DISK_FULL,
    sqlite3.IntegrityError("UNIQUE constraint failed: journal.invocation_id, journal.idx"),
    OverflowError("int too big to convert"),
]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    GATE.update(open=asyncio.Event(), entered=asyncio.Event(), runs=0)
    async with serve_in_process(restate.app(services=[echo, gated]), tmp_path) as served:
        yield served


async def _invocations(client: httpx.AsyncClient, served: Served) -> list[dict[str, object]]:
    listed = await client.get(f"{served.admin_url}/invocations")
    assert listed.status_code == 200
    rows: list[dict[str, object]] = listed.json()["invocations"]
    return rows


@pytest.mark.parametrize("error", ERRORS, ids=["disk-full", "constraint", "overflow"])
async def test_failed_commit_answers_503_and_the_next_request_succeeds(
    served: Served, error: BaseException
) -> None:
    """The caller of a batch whose commit fails gets a 503 naming the cause; nothing of it is
    stored; what was committed before stays; the next request succeeds without a restart."""
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        before = await client.post("/Echo/say", json="one")
        assert before.status_code == 200
        served.store.fail(error)
        failed = await client.post("/Echo/say", json="two", headers={"idempotency-key": "k"})
        assert failed.status_code == 503
        body = failed.json()
        assert body["code"] == 503
        assert str(error) in body["message"]
        rows = await _invocations(client, served)
        assert [row["status"] for row in rows] == ["completed"]  # only the first one
        again = await client.post("/Echo/say", json="two", headers={"idempotency-key": "k"})
        assert again.status_code == 200
        assert again.json() == "echo two"
        assert len(await _invocations(client, served)) == 2
        assert (await client.get("/restate/health")).status_code == 200
    assert served.runtime.leader.failure is None


async def test_bad_event_fails_alone_in_its_batch(served: Served) -> None:
    """When one event of a batch cannot be written but the store takes writes, the batch is
    retried event by event: only that event's caller gets the 503."""

    def has_poison(batch: Batch) -> bool:
        return any(inv.target.handler == "poison" for inv in batch.invocations.values())

    served.store.fail(OverflowError("int too big to convert"), times=None, when=has_poison)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        requests = [client.post("/Echo/say/send", json=str(i)) for i in range(20)]
        requests.insert(10, client.post("/Echo/poison/send", json="x"))
        answers = await asyncio.gather(*requests)
    codes = [answer.status_code for answer in answers]
    assert codes[10] == 503
    assert codes[:10] + codes[11:] == [202] * 20
    assert served.store.failed_commits >= 1
    assert served.runtime.leader.failure is None  # a bad event is not an unhealthy store


async def test_broken_store_makes_health_503_until_writes_succeed_again(served: Served) -> None:
    """While no write succeeds, requests and both health endpoints answer 503 with the reason;
    once the store heals, health is 200 again and a handler whose step result could not be
    stored is retried (its step ran twice: its first result was never durable) and finishes."""
    async with httpx.AsyncClient(timeout=10) as client:
        call = asyncio.ensure_future(client.post(f"{served.url}/Gated/walk"))
        await asyncio.wait_for(GATE["entered"].wait(), 10)  # type: ignore[union-attr]
        served.store.fail(DISK_FULL, times=None)
        GATE["open"].set()  # type: ignore[union-attr]
        assert await until(lambda: served.runtime.health() is not None)
        for url in (f"{served.url}/restate/health", f"{served.admin_url}/health"):
            health = await client.get(url)
            assert health.status_code == 503
            assert "database or disk is full" in health.json()["message"]
        refused = await client.post(f"{served.url}/Echo/say", json="x")
        assert refused.status_code == 503
        served.store.heal()
        assert await until(lambda: served.runtime.health() is None, 5)
        assert (await client.get(f"{served.url}/restate/health")).status_code == 200
        assert (await client.get(f"{served.admin_url}/health")).status_code == 200
        answer = await asyncio.wait_for(call, 10)
        assert answer.status_code == 200
        assert answer.json() == "passed"
    assert GATE["runs"] == 2


async def test_crashed_leader_task_is_restarted_and_recovers(served: Served) -> None:
    """A bug that kills the leader's task is not silent: health is 503 while it is down, the
    supervisor restarts it, recovery restarts the running invocation, and the call finishes."""
    invoker = served.runtime.invoker
    real_start = invoker.start
    crashes = {"left": 3}

    def start(effect: object) -> None:
        if crashes["left"] > 0:
            crashes["left"] -= 1
            raise RuntimeError("invoker bug")
        real_start(effect)  # type: ignore[arg-type]

    invoker.start = start  # type: ignore[method-assign]
    seen: list[int] = []
    async with httpx.AsyncClient(timeout=10) as client:
        call = asyncio.ensure_future(client.post(f"{served.url}/Echo/say", json="after a crash"))
        while not call.done():
            seen.append((await client.get(f"{served.admin_url}/health")).status_code)
            await asyncio.sleep(0.02)
        answer = await call
        assert answer.status_code == 200
        assert answer.json() == "echo after a crash"
        assert (await client.get(f"{served.url}/restate/health")).status_code == 200
    assert 503 in seen
    assert served.runtime.supervisor.restarts >= 1


async def test_attempt_whose_progress_cannot_be_stored_is_retried_without_spinning(
    served: Served,
) -> None:
    """A step result the store always refuses fails the attempt (503 as its last failure)
    and the invocation backs off and retries; the leader does not spin on it and stays
    healthy, and other requests are served meanwhile."""

    def has_poison(batch: Batch) -> bool:
        return any("POISON" in repr(entry) for _, _, entry in batch.journal)

    served.store.fail(OverflowError("int too big to convert"), times=None, when=has_poison)
    async with httpx.AsyncClient(timeout=10) as client:
        sent = await client.post(f"{served.url}/Gated/unstorable/send")
        iid = sent.json()["invocationId"]
        await asyncio.sleep(2)
        described = (await client.get(f"{served.admin_url}/invocations/{iid}")).json()
        assert described["retry_count"] >= 1
        assert "could not store the attempt's progress" in described["last_failure"]["message"]
        assert described["last_failure"]["code"] == 503
        other = await client.post(f"{served.url}/Echo/say", json="meanwhile")
        assert other.status_code == 200
    assert served.runtime.health() is None
    assert served.store.failed_commits <= 12  # about two per half second, not a spin
