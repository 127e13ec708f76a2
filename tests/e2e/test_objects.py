"""Virtual objects over a real server: the per-key queue of exclusive handlers, shared handlers
beside it, the state API, and the queue surviving kill -9.

The servers run with `--inactivity-timeout 0`: every await that is not ready ends the attempt,
so a handler waiting on an awakeable is suspended and resumes by replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.e2e.apps_durability import Traces, describe, invocations_with_status, wait_until
from tests.e2e.apps_keyed import APP, TRACES_ENV
from tests.support.server import ServerFactory, WakefulProcess

Server = tuple[WakefulProcess, Traces]

QUEUED = 20


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> Server:
    """One server for the module (every wait suspends), and its trace reader."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="objects")
    return process, Traces(process.traces_dir)


# -- helpers ---------------------------------------------------------------------------------


def _awakeable(traces: Traces, label: str, timeout: float = 10.0) -> str:
    """The awakeable id handed out under `label` (`{key}:{tag}`), once it appears."""

    def probe() -> str | None:
        for labels in traces.awakeables().values():
            if label in labels:
                return labels[label][0]
        return None

    return wait_until(probe, timeout, f"awakeable {label!r} to be handed out")


def _ran(traces: Traces, key: str) -> list[str]:
    """The tags of `Queue/{key}/enqueue` handlers, in the order their recording step ran."""
    path = traces.folder / "order.log"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [tag for k, tag in (line.split(" ") for line in lines) if k == key]


def _inboxed(proc: WakefulProcess, target: str) -> set[str]:
    """Ids of the invocations of `target` the admin API lists as inboxed."""
    response = httpx.get(
        f"{proc.admin_url}/invocations", params={"status": "inboxed", "limit": 1000}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["invocations"] if row["target"] == target}


async def _until(probe: Callable[[], bool], what: str) -> None:
    """`wait_until` for an async test: requests in flight keep making progress meanwhile."""
    try:
        async with asyncio.timeout(10):
            while True:  # polling a server in another process: nothing to wait on here
                if await asyncio.to_thread(probe):
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after 10s waiting for {what}") from None


def _tags(n: int) -> list[str]:
    return [f"c{i:02d}" for i in range(n)]


# -- the queue -------------------------------------------------------------------------------


async def test_exclusive_calls_queue_behind_a_waiting_handler_and_run_in_arrival_order(
    server: Server,
) -> None:
    """While an exclusive handler waits on an awakeable, 20 calls to its key are inboxed; once
    it is resolved they run one at a time in arrival order, each seeing its predecessors'
    state; meanwhile another key and the key's shared handler answer."""
    proc, traces = server
    key, target = "order-key", "Queue/order-key/enqueue"
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, limits=limits) as client:
        first = await client.post(f"/Queue/{key}/enqueue", json={"tag": "before"})
        assert (first.status_code, first.json()) == (200, ["before"])

        head = asyncio.create_task(
            client.post(f"/Queue/{key}/enqueue", json={"tag": "head", "wait": True})
        )
        awakeable_id = await asyncio.to_thread(_awakeable, traces, f"{key}:head")
        calls = []
        for n, tag in enumerate(_tags(QUEUED), start=1):
            calls.append(
                asyncio.create_task(client.post(f"/Queue/{key}/enqueue", json={"tag": tag}))
            )
            # Arrival order is the order the server accepted them: one at a time.
            await _until(lambda n=n: len(_inboxed(proc, target)) == n, f"{n} inboxed calls")

        inboxed = _inboxed(proc, target)
        assert len(inboxed) == QUEUED
        suspended = invocations_with_status(proc.admin_url, "suspended")
        assert len([i for i in suspended if describe(proc.admin_url, i)["target"] == target]) == 1
        assert not head.done()
        assert not any(c.done() for c in calls)

        other = await client.post("/Queue/other-key/enqueue", json={"tag": "elsewhere"})
        assert (other.status_code, other.json()) == (200, ["elsewhere"])
        shared = await client.post(f"/Queue/{key}/order")
        assert (shared.status_code, shared.json()) == (200, {"order": ["before"]})
        assert _ran(traces, key) == ["before"]  # nothing behind the lock ran

        resolved = await client.post(f"/restate/awakeables/{awakeable_id}/resolve", json="go")
        assert resolved.status_code == 202
        head_response = await head
        responses = await asyncio.gather(*calls)
        final = await client.post(f"/Queue/{key}/order")

    assert (head_response.status_code, head_response.json()) == (200, ["before", "head"])
    expected = ["before", "head", *_tags(QUEUED)]
    assert [(r.status_code, r.json()) for r in responses] == [
        (200, expected[: n + 3]) for n in range(QUEUED)
    ]
    assert {r.headers["x-restate-id"] for r in responses} == inboxed
    assert _ran(traces, key) == expected
    assert final.json() == {"order": expected}


# -- state -----------------------------------------------------------------------------------


def test_state_operations_round_trip_inside_one_handler(server: Server) -> None:
    """set/get/clear/clear_all/state_keys inside one exclusive handler each see the effect of
    the operations before them."""
    proc, _ = server
    ops = [
        ["get", "a"],
        ["keys"],
        ["set", "a", 1],
        ["set", "b", {"nested": [1, "two"]}],
        ["get", "a"],
        ["get", "b"],
        ["keys"],
        ["clear", "a"],
        ["get", "a"],
        ["keys"],
        ["set", "c", "three"],
        ["clear_all"],
        ["keys"],
        ["get", "b"],
    ]
    response = httpx.post(f"{proc.url}/Store/inside/apply", json=ops, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == [
        None,
        [],
        1,
        {"nested": [1, "two"]},
        ["a", "b"],
        None,
        ["b"],
        [],
        None,
    ]
    assert httpx.post(f"{proc.url}/Store/inside/snapshot").json() == {"keys": [], "values": {}}


def test_state_written_by_an_exclusive_handler_is_seen_by_later_calls(server: Server) -> None:
    """State an exclusive handler wrote is read by later exclusive and shared calls of the same
    key (and not of another key); clear and clear_all are just as durable; get with a
    type_hint builds that type."""
    proc, _ = server

    def call(handler: str, body: Any = None) -> Any:
        response = httpx.post(f"{proc.url}/Store/across/{handler}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    assert call("apply", [["set", "a", 1], ["set", "b", [2]], ["set", "c", "3"]]) == []
    assert call("apply", [["get", "a"], ["get", "b"], ["keys"]]) == [1, [2], ["a", "b", "c"]]
    assert call("snapshot") == {"keys": ["a", "b", "c"], "values": {"a": 1, "b": [2], "c": "3"}}
    assert httpx.post(f"{proc.url}/Store/elsewhere/snapshot").json() == {"keys": [], "values": {}}

    assert call("apply", [["clear", "a"]]) == []
    assert call("snapshot") == {"keys": ["b", "c"], "values": {"b": [2], "c": "3"}}
    assert call("apply", [["clear_all"]]) == []
    assert call("snapshot") == {"keys": [], "values": {}}

    assert [call("bump") for _ in range(3)] == [
        {"count": 1, "read_type": "NoneType"},
        {"count": 2, "read_type": "Tally"},
        {"count": 3, "read_type": "Tally"},
    ]
    assert call("snapshot") == {"keys": ["tally"], "values": {"tally": {"count": 3}}}


def test_shared_handler_setting_state_fails_and_writes_nothing(server: Server) -> None:
    """ctx.set in a shared handler raises TypeError, a retryable error: with max_attempts=1 and
    on_max_attempts="kill" the call ends after one attempt with a 500 failure, state untouched."""
    proc, _ = server
    response = httpx.post(f"{proc.url}/Store/guarded/illegal_set", json="x", timeout=10)
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["code"] == 500
    assert body["source"] == "invocation"
    assert body["message"].startswith("TypeError")
    assert "shared handler" in body["message"]
    assert response.headers["x-restate-error-source"] == "invocation"

    info = describe(proc.admin_url, response.headers["x-restate-id"])
    assert (info["status"], info["attempt"], info["retry_count"]) == ("completed", 1, 1)
    snapshot = httpx.post(f"{proc.url}/Store/guarded/snapshot").json()
    assert snapshot == {"keys": [], "values": {}}


# -- crash -------------------------------------------------------------------------------------


def test_queue_survives_kill_and_runs_every_call_once_in_order(serve: ServerFactory) -> None:
    """kill -9 while 20 sends are inboxed behind a handler suspended on an awakeable: after a
    restart they are still inboxed, and once it is resolved all 20 run in order, exactly once."""
    proc = serve(APP, traces_env=TRACES_ENV)
    traces = Traces(proc.traces_dir)
    key, target = "crash-key", "Queue/crash-key/enqueue"
    try:
        assert httpx.post(f"{proc.url}/Queue/{key}/enqueue", json={"tag": "before"}).json() == [
            "before"
        ]

        def send(tag: str, body: dict[str, Any]) -> str:
            response = httpx.post(
                f"{proc.url}/Queue/{key}/enqueue/send",
                json=body,
                headers={"idempotency-key": tag},
                timeout=10,
            )
            assert response.status_code == 202, response.text
            return str(response.json()["invocationId"])

        head = send("head", {"tag": "head", "wait": True})
        awakeable_id = _awakeable(traces, f"{key}:head")
        wait_until(
            lambda: describe(proc.admin_url, head)["status"] == "suspended", 10, "head to suspend"
        )
        # Each send answers once it is durable, so sending one after the other fixes the order.
        queued = [send(tag, {"tag": tag}) for tag in _tags(QUEUED)]
        assert _inboxed(proc, target) == set(queued)

        proc.kill()
        proc.start()
        assert _inboxed(proc, target) == set(queued)
        assert describe(proc.admin_url, head)["status"] == "suspended"
        assert _ran(traces, key) == ["before"]

        resolved = httpx.post(f"{proc.url}/restate/awakeables/{awakeable_id}/resolve", json=1)
        assert resolved.status_code == 202
        tags = ["head", *_tags(QUEUED)]
        attached = [
            httpx.get(f"{proc.url}/restate/invocation/Queue/{key}/enqueue/{tag}/attach", timeout=20)
            for tag in tags
        ]
    finally:
        proc.kill()

    expected = ["before", *tags]
    assert [(r.status_code, r.json()) for r in attached] == [
        (200, expected[: n + 2]) for n in range(len(tags))
    ]
    assert _ran(traces, key) == expected
    counts = traces.steps()
    assert counts[(head, "hand-out")] == 1
    assert [counts[(iid, "record")] for iid in [head, *queued]] == [1] * len(tags)
