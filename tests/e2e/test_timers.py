"""Durable timers and combinators over a real server: `ctx.sleep`, the approval-with-timeout
pattern (`select(approved=awakeable, timeout=ctx.sleep(...))`), across `kill -9` too, ten
thousand sleeping invocations, and `select`/`gather`/`wait_completed`/`as_completed` replaying
to the same answer.

Most servers run with `--inactivity-timeout 0`: every await that is not ready suspends the
invocation, so each resumption replays the journal from the start.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import pytest
from tests.e2e.apps_durability import (
    attach,
    describe,
    resolve,
    send,
    wait_status,
    wait_until,
)
from tests.e2e.apps_timers import APP, TRACES_ENV, Traces
from tests.support.server import ServerFactory, WakefulProcess

from wakeful.journal.entries import SleepCommand
from wakeful.journal.ids import InvocationId
from wakeful.storage.sqlite import SqliteStore

Server = tuple[WakefulProcess, Traces]

SLEEPERS = 10_000
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> Server:
    """One server with `--inactivity-timeout 0` for the tests that do not crash it."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="timers")
    return process, Traces(process.traces_dir)


@pytest.fixture
def crashable(serve: ServerFactory) -> Server:
    """A server of the test's own (started), to kill -9 and restart; killed at the end."""
    process = serve(APP, traces_env=TRACES_ENV)
    return process, Traces(process.traces_dir)


def _handed_out(traces: Traces, iid: str, label: str, timeout: float = 10.0) -> str:
    """Wait until `iid` handed out its awakeable `label`; its id."""
    return wait_until(
        lambda: traces.awakeables().get(iid, {}).get(label),
        timeout,
        f"{iid} to hand out awakeable {label!r}",
    )


def _result(proc: WakefulProcess, iid: str, timeout: float = 20.0) -> Any:
    response = attach(proc.url, iid, timeout)
    assert response.status_code == 200, response.text
    return response.json()


def _sleep_due_on_disk(data_dir: Path, iid: str) -> float:
    """The wake-up time (unix seconds) of the invocation's sleep, read with the server down."""

    async def load() -> float:
        store = SqliteStore(data_dir / "wakeful.sqlite")
        await store.open()
        try:
            journal = await store.load_journal(0, InvocationId.parse(iid))
        finally:
            await store.close()
        (sleep,) = [e for e in journal if isinstance(e, SleepCommand)]
        return sleep.wake_up_at_ms / 1000

    return asyncio.run(load())


def _journal(proc: WakefulProcess, iid: str) -> list[str]:
    return [row["entry"] for row in describe(proc.admin_url, iid)["journal"]]


# -- sleep --------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["nap", "nap_live"])
def test_sleep_fires_close_to_its_due_time(server: Server, handler: str) -> None:
    """A 500 ms ctx.sleep ends the call after 0.5-1.5 s, whether the handler suspends while it
    sleeps (`nap`) or stays in memory (`nap_live`)."""
    proc, _ = server
    started = time.monotonic()
    response = httpx.post(f"{proc.url}/Timers/{handler}", json=500, timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json() == 500
    assert 0.5 <= elapsed <= 1.5


def test_suspended_sleep_is_a_journaled_timer(server: Server) -> None:
    """A sleeping handler suspends; the timer's completion resumes it by replay (two attempts,
    the Sleep command and its Completion in the journal)."""
    proc, _ = server
    iid = send(proc.url, "Timers/nap", 700)
    info = wait_status(proc.admin_url, iid, "suspended", timeout=5)
    assert "Sleep(name=None, id=1)" in [row["entry"] for row in info["journal"]]
    assert _result(proc, iid) == 700
    journal = describe(proc.admin_url, iid)
    assert journal["attempt"] == 2
    assert [row["entry"] for row in journal["journal"]][1:] == [
        "Sleep(name=None, id=1)",
        "Completion(id=1)",
        "Output",
    ]


# -- approval with timeout --------------------------------------------------------------


def test_approval_resolved_in_time_returns_the_verdict(server: Server) -> None:
    """select(approved=awakeable, timeout=sleep(30 s)): an approval in time wins."""
    proc, traces = server
    iid = send(proc.url, "Timers/approval", 30)
    approval = _handed_out(traces, iid, "approval")
    wait_status(proc.admin_url, iid, "suspended")
    resolve(proc.url, approval, {"by": "alice"})
    assert _result(proc, iid) == ["approved", {"by": "alice"}]
    assert traces.step_count(iid, "after") == 1


def test_approval_times_out_and_a_late_completion_changes_nothing(server: Server) -> None:
    """With no approval the sleep wins after its delay ("timeout"); resolving the awakeable
    afterwards is answered 202 and changes neither the result nor the journal."""
    proc, traces = server
    started = time.time()
    iid = send(proc.url, "Timers/approval", 1)
    approval = _handed_out(traces, iid, "approval")
    assert _result(proc, iid) == ["timeout", None]
    (after,) = traces.step_times(iid, "after")
    assert 1.0 <= after - started <= 2.5
    before = describe(proc.admin_url, iid)

    resolve(proc.url, approval, {"by": "too late"})
    time.sleep(0.3)  # a signal the engine would (wrongly) deliver lands within milliseconds
    assert describe(proc.admin_url, iid) == before
    assert _result(proc, iid) == ["timeout", None]
    assert traces.step_count(iid, "after") == 1


@pytest.mark.slow
def test_approval_resolved_after_a_kill_during_the_wait(crashable: Server) -> None:
    """kill -9 while the approval waits, restart: resolving the awakeable still wins the select,
    and no step ran twice."""
    proc, traces = crashable
    iid = send(proc.url, "Timers/approval", 30)
    approval = _handed_out(traces, iid, "approval")
    wait_status(proc.admin_url, iid, "suspended")
    proc.kill()
    proc.start()
    resolve(proc.url, approval, {"by": "bob"})
    assert _result(proc, iid) == ["approved", {"by": "bob"}]
    assert traces.step_count(iid, "hand-out") == 1
    assert traces.step_count(iid, "after") == 1


@pytest.mark.slow
def test_timeout_due_after_the_restart_fires_at_its_time(crashable: Server) -> None:
    """kill -9 while the approval waits and restart before the timer is due: the timer fires at
    its wake-up time (not before, not much later); a completion arriving afterwards changes
    nothing."""
    proc, traces = crashable
    iid = send(proc.url, "Timers/approval", 6)  # seconds: outlasts a restart on a busy machine
    approval = _handed_out(traces, iid, "approval")
    wait_status(proc.admin_url, iid, "suspended")
    proc.kill()
    due = _sleep_due_on_disk(proc.data_dir, iid)
    proc.start()
    assert time.time() < due  # the restart did happen before the timer was due

    assert _result(proc, iid) == ["timeout", None]
    (after,) = traces.step_times(iid, "after")
    assert due <= after <= due + 1.5
    before = describe(proc.admin_url, iid)
    resolve(proc.url, approval, {"by": "too late"})
    time.sleep(0.3)
    assert describe(proc.admin_url, iid) == before
    assert _result(proc, iid) == ["timeout", None]


@pytest.mark.slow
def test_timeout_due_while_down_fires_at_once_on_restart(crashable: Server) -> None:
    """kill -9 while the approval waits and stay down past the timer's due time: the timer fires
    as soon as the server is back."""
    proc, traces = crashable
    iid = send(proc.url, "Timers/approval", 1)
    _handed_out(traces, iid, "approval")
    wait_status(proc.admin_url, iid, "suspended")
    proc.kill()
    due = _sleep_due_on_disk(proc.data_dir, iid)
    time.sleep(max(0.0, due + 1.5 - time.time()))
    assert traces.step_count(iid, "after") == 0  # nobody was there to fire it

    restarting = time.time()
    proc.start()
    up = time.time()
    assert _result(proc, iid) == ["timeout", None]
    (after,) = traces.step_times(iid, "after")
    assert restarting <= after <= up + 1.5


# -- ten thousand sleepers ----------------------------------------------------------------


async def _send_sleepers(url: str, durations: list[int]) -> list[tuple[str, float, float]]:
    """Send Timers/doze for each duration (ms), 64 at a time; `(id, sent at, answered at)`."""
    out: list[tuple[str, float, float]] = [("", 0.0, 0.0)] * len(durations)
    todo = iter(range(len(durations)))
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def worker() -> None:
            for n in todo:
                sent_at = time.time()
                async with session.post("/Timers/doze/send", json=durations[n]) as r:
                    assert r.status == 202, await r.text()
                    out[n] = ((await r.json())["invocationId"], sent_at, time.time())

        await asyncio.gather(*(worker() for _ in range(64)))
    return out


@pytest.mark.slow
def test_ten_thousand_sleepers_all_wake_once_with_bounded_memory(serve: ServerFactory) -> None:
    """10,000 invocations sleeping 2-7 s (suspended) all wake up, none twice and none early,
    and the server's RSS while they wait stays under its idle RSS + 100 MiB."""
    proc = serve(APP, traces_env=TRACES_ENV, extra_args=["--log-level", "warning"])
    traces = Traces(proc.traces_dir)
    try:
        assert proc.process is not None
        rss = psutil.Process(proc.process.pid).memory_info
        idle = rss().rss
        durations = [2000 + n * 5000 // SLEEPERS for n in range(SLEEPERS)]
        sent = asyncio.run(_send_sleepers(proc.url, durations))
        assert len({iid for iid, _, _ in sent}) == SLEEPERS

        peak = idle
        deadline = time.monotonic() + 60
        while len(traces.wakeups()) < SLEEPERS and time.monotonic() < deadline:
            peak = max(peak, rss().rss)
            time.sleep(0.1)
        time.sleep(0.5)  # a wake-up that fired twice would show within this
        wakeups = traces.wakeups()
    finally:
        proc.kill()

    assert len(wakeups) == SLEEPERS
    assert {iid: len(times) for iid, times in wakeups.items() if len(times) != 1} == {}
    early = [
        iid
        for (iid, sent_at, _), ms in zip(sent, durations, strict=True)
        if wakeups[iid][0] < sent_at + ms / 1000
    ]
    assert early == []
    late = max(
        wakeups[iid][0] - (answered + ms / 1000)
        for (iid, _, answered), ms in zip(sent, durations, strict=True)
    )
    assert late < 10.0
    assert peak < idle + 100 * MiB, (idle / MiB, peak / MiB)


# -- combinators ------------------------------------------------------------------------

SIGNAL_OF = {"a": "Signal(index=17)", "b": "Signal(index=18)", "c": "Signal(index=19)"}
SLEEP_DONE = "Completion(id=1)"  # the race's sleep is its first completion


def _first_in_journal(entries: list[str]) -> str:
    """Which of a, b, c and the timeout completed first according to the journal."""
    names = {entry: name for name, entry in SIGNAL_OF.items()} | {SLEEP_DONE: "timeout"}
    return next(names[e] for e in entries if e in names)


def _complete(proc: WakefulProcess, how: str, completions: list[tuple[str, Any]]) -> None:
    """Resolve `[(awakeable id, value), ...]` in order: two ingress requests one after the other
    ("http"), or one handler resolving all in a single attempt, i.e. one batch ("batch")."""
    if how == "http":
        for awakeable_id, value in completions:
            resolve(proc.url, awakeable_id, value)
    else:
        body = [[awakeable_id, value] for awakeable_id, value in completions]
        response = httpx.post(f"{proc.url}/Resolver/resolve_all", json=body, timeout=10)
        assert response.status_code == 200, response.text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("order", "how"),
    [
        (["a", "b"], "batch"),
        (["b", "a"], "batch"),
        (["c", "a"], "http"),
        (["b", "c"], "http"),
        (["timeout", "c"], "http"),
    ],
)
def test_select_replays_to_the_branch_first_in_the_journal(
    crashable: Server, order: list[str], how: str
) -> None:
    """select over three awakeables and a sleep picks the completion first in the journal, and
    every replay (after a kill -9 and restart, then again after each of two more awakeables)
    picks the same branch, whatever order the two completions arrived in."""
    proc, traces = crashable
    sleep_s = 0.5 if order[0] == "timeout" else 3600
    iid = send(proc.url, "Combinators/race", sleep_s)
    ids = {name: _handed_out(traces, iid, name) for name in "abc"}
    wait_status(proc.admin_url, iid, "suspended")
    if order[0] == "timeout":
        _handed_out(traces, iid, "gate1")  # the timer fired: the race is decided
        _complete(proc, how, [(ids[order[1]], order[1])])
    else:
        _complete(proc, how, [(ids[name], name) for name in order])
    gate1 = _handed_out(traces, iid, "gate1")
    wait_status(proc.admin_url, iid, "suspended")

    proc.kill()
    proc.start()
    resolve(proc.url, gate1, None)
    gate2 = _handed_out(traces, iid, "gate2")
    resolve(proc.url, gate2, None)
    result = _result(proc, iid)

    entries = _journal(proc, iid)
    assert _first_in_journal(entries) == order[0]
    assert SIGNAL_OF.get(order[1], SLEEP_DONE) in entries  # the loser was journaled too
    value = None if order[0] == "timeout" else order[0]
    assert result == {"winner": order[0], "value": value}
    selected = traces.selected(iid)
    assert len(selected) >= 3  # decided, then replayed after the restart and after each gate
    assert set(selected) == {order[0]}
    assert traces.step_count(iid, f"decided-{order[0]}") == 1


def test_gather_waits_for_both_awakeables(server: Server) -> None:
    """gather over two awakeables returns only once both are completed, with both values; the
    first completion alone does not even resume the suspended handler (it cannot progress)."""
    proc, traces = server
    iid = send(proc.url, "Combinators/gather_two", None)
    ids = {name: _handed_out(traces, iid, name) for name in "ab"}
    wait_status(proc.admin_url, iid, "suspended")
    attempt = describe(proc.admin_url, iid)["attempt"]
    resolve(proc.url, ids["b"], "value-b")
    time.sleep(0.3)  # long enough for a wrongly woken attempt to show
    after_one = describe(proc.admin_url, iid)
    assert (after_one["status"], after_one["attempt"]) == ("suspended", attempt)
    assert traces.step_count(iid, "gathered") == 0
    resolve(proc.url, ids["a"], "value-a")
    assert _result(proc, iid) == ["value-a", "value-b"]
    assert traces.step_count(iid, "gathered") == 1


def test_wait_completed_returns_done_and_pending(server: Server) -> None:
    """wait_completed over two awakeables returns as soon as one completes: it is `done`, the
    other `pending` (which the handler then awaits)."""
    proc, traces = server
    iid = send(proc.url, "Combinators/first_done", None)
    ids = {name: _handed_out(traces, iid, name) for name in "ab"}
    resolve(proc.url, ids["b"], 2)
    wait_until(
        lambda: (
            describe(proc.admin_url, iid)["attempt"] >= 2
            and describe(proc.admin_url, iid)["status"] == "suspended"
        ),
        10,
        "the handler to wait on the pending awakeable",
    )
    resolve(proc.url, ids["a"], 1)
    assert _result(proc, iid) == {"done": ["b"], "pending": ["a"], "values": {"b": 2, "a": 1}}


def test_as_completed_yields_in_completion_order(server: Server) -> None:
    """as_completed over three awakeables yields them in the order they were completed, not
    the order they were created."""
    proc, traces = server
    iid = send(proc.url, "Combinators/in_order", None)
    ids = {name: _handed_out(traces, iid, name) for name in "abc"}
    for name in ("c", "a", "b"):
        resolve(proc.url, ids[name], f"value-{name}")
    assert _result(proc, iid) == [["c", "value-c"], ["a", "value-a"], ["b", "value-b"]]


def test_select_of_unique_payload_is_not_confused_between_invocations(server: Server) -> None:
    """Two races run side by side; each one's select answers with its own awakeable's value."""
    proc, traces = server
    first = send(proc.url, "Combinators/race", 3600)
    second = send(proc.url, "Combinators/race", 3600)
    tokens = {first: uuid.uuid4().hex, second: uuid.uuid4().hex}
    resolve(proc.url, _handed_out(traces, first, "b"), tokens[first])
    resolve(proc.url, _handed_out(traces, second, "c"), tokens[second])
    for iid in (first, second):
        for gate in ("gate1", "gate2"):
            resolve(proc.url, _handed_out(traces, iid, gate), None)
    assert _result(proc, first) == {"winner": "b", "value": tokens[first]}
    assert _result(proc, second) == {"winner": "c", "value": tokens[second]}
