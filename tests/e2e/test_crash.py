"""Crash tests: `kill -9` a real server while invocations wait on awakeables, restart it on the
same data directory, and check that nothing durable was lost and no recorded step ran twice.

What is guaranteed: a `ctx.run` body runs at least once and its result is recorded exactly
once; after a crash a body runs again if and only if its completion was not durable. The
tests read the journals the crash left on disk (through the store, between the kill and the
restart) to know exactly which completions were durable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.apps_durability import (
    APP,
    TRACES_ENV,
    Traces,
    concurrently,
    invocations_with_status,
    wait_until,
)
from tests.support.server import ServerFactory, WakefulProcess

from wakeful.journal.entries import (
    CompletionNotification,
    Entry,
    OutputCommand,
    RunCommand,
    SignalNotification,
)
from wakeful.journal.ids import InvocationId
from wakeful.storage.sqlite import SqliteStore

MANY = 200
FIRST_AWAKEABLE = 17

Server = tuple[WakefulProcess, Traces]


@pytest.fixture
def make_server(serve: ServerFactory) -> Callable[[str], Server]:
    """Start a server with a given inactivity timeout; every one started is killed at the end."""

    def make(inactivity_timeout: str) -> Server:
        process = serve(APP, traces_env=TRACES_ENV, inactivity_timeout=inactivity_timeout)
        return process, Traces(process.traces_dir)

    return make


def _start_all(proc: WakefulProcess, bodies: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Send one invocation per (handler, input); their ids in the same order."""
    responses = concurrently(
        ("POST", f"{proc.url}/Durability/{handler}/send", body) for handler, body in bodies
    )
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    return [str(r.json()["invocationId"]) for r in responses]


def _handed_out(traces: Traces, iids: list[str]) -> dict[str, str]:
    """Wait until every invocation handed out its awakeable; invocation id -> awakeable id."""

    def probe() -> dict[str, str] | None:
        found = traces.awakeables()
        if all(iid in found for iid in iids):
            return {iid: found[iid]["only"][0] for iid in iids}
        return None

    return wait_until(probe, 30, f"{len(iids)} awakeable ids to be handed out")


def _resolve_all(proc: WakefulProcess, awakeables: dict[str, str]) -> dict[str, Any]:
    """Resolve every awakeable with a payload of its own; invocation id -> payload."""
    payloads = {iid: {"for": iid, "n": n} for n, iid in enumerate(awakeables)}
    responses = concurrently(
        ("POST", f"{proc.url}/restate/awakeables/{awakeable_id}/resolve", payloads[iid])
        for iid, awakeable_id in awakeables.items()
    )
    assert [r.status_code for r in responses] == [202] * len(responses)
    return payloads


def _assert_results(proc: WakefulProcess, payloads: dict[str, Any]) -> None:
    """Attach to every invocation: each completes with its own payload."""
    iids = list(payloads)
    responses = concurrently(
        (("GET", f"{proc.url}/restate/invocation/{iid}/attach", None) for iid in iids),
        timeout=40,
    )
    results = {iid: (r.status_code, r.json()) for iid, r in zip(iids, responses, strict=True)}
    expected = {iid: (200, {"invocation": iid, "payload": payloads[iid]}) for iid in iids}
    assert results == expected


def _journals_on_disk(data_dir: Path, iids: list[str]) -> dict[str, list[Entry]]:
    """The journals as the crash left them (read with the server down)."""

    async def load() -> dict[str, list[Entry]]:
        store = SqliteStore(data_dir / "wakeful.sqlite")
        await store.open()
        try:
            return {iid: await store.load_journal(0, InvocationId.parse(iid)) for iid in iids}
        finally:
            await store.close()

    return asyncio.run(load())


def _step_recorded(journal: list[Entry], step: str) -> bool:
    """Whether the journal holds the completion of `ctx.run(step)`."""
    ids = {e.completion_id for e in journal if isinstance(e, RunCommand) and e.name == step}
    return any(isinstance(e, CompletionNotification) and e.completion_id in ids for e in journal)


def _step_counts(traces: Traces, iids: list[str], step: str) -> dict[str, int]:
    counts = traces.steps()
    return {iid: counts[(iid, step)] for iid in iids}


@pytest.mark.slow
def test_kill_while_suspended_loses_nothing_and_reruns_no_step(
    make_server: Callable[[str], Server],
) -> None:
    """200 invocations suspended on awakeables survive kill -9: after a restart each completes
    with its own payload, and no ctx.run body ran twice."""
    proc, traces = make_server("1s")
    iids = _start_all(proc, [("wait_once", {})] * MANY)
    awakeables = _handed_out(traces, iids)
    wait_until(
        lambda: invocations_with_status(proc.admin_url, "suspended") >= set(iids),
        20,
        "every invocation to suspend",
    )
    proc.kill()
    journals = _journals_on_disk(proc.data_dir, iids)
    assert all(_step_recorded(journals[iid], "hand-out") for iid in iids)

    proc.start()
    payloads = _resolve_all(proc, awakeables)
    _assert_results(proc, payloads)
    assert _step_counts(traces, iids, "hand-out") == dict.fromkeys(iids, 1)
    assert _step_counts(traces, iids, "after") == dict.fromkeys(iids, 1)


@pytest.mark.slow
def test_kill_while_live_reruns_exactly_the_steps_not_yet_durable(
    make_server: Callable[[str], Server],
) -> None:
    """200 invocations live in memory survive kill -9; after the restart a ctx.run body ran
    again if and only if its completion was not durable when the process died."""
    proc, traces = make_server("60s")
    # Half of the hand-out steps linger after handing out the id: their completions cannot be
    # durable when the process is killed right after the last id appears. The linger outlasts
    # starting all of them on a loaded 2-core machine (2 s did not, with other work running).
    bodies = [("wait_once", {"linger": 8.0 if n % 2 else 0}) for n in range(MANY)]
    iids = _start_all(proc, bodies)
    awakeables = _handed_out(traces, iids)
    proc.kill()
    journals = _journals_on_disk(proc.data_dir, iids)
    recorded = {iid: _step_recorded(journals[iid], "hand-out") for iid in iids}
    assert not all(recorded.values())  # the crash did catch steps in flight

    proc.start()
    payloads = _resolve_all(proc, awakeables)
    _assert_results(proc, payloads)
    expected = {iid: 1 if recorded[iid] else 2 for iid in iids}
    assert _step_counts(traces, iids, "hand-out") == expected
    assert _step_counts(traces, iids, "after") == dict.fromkeys(iids, 1)
    # A re-run hands out the same awakeable id: it is derived from the journal, not random.
    again = traces.awakeables()
    assert {iid: set(again[iid]["only"]) for iid in iids} == {
        iid: {awakeables[iid]} for iid in iids
    }


def test_resolution_answered_202_survives_kill(make_server: Callable[[str], Server]) -> None:
    """An awakeable resolution answered 202 is durable: kill -9 right after the answers, before
    any handler could finish, and after a restart every invocation completes with its payload."""
    proc, traces = make_server("1s")
    slow_after = {"linger_after": 2.0}  # nothing completes before the kill
    suspended = _start_all(proc, [("wait_once", slow_after)] * 10)
    awakeables = _handed_out(traces, suspended)
    wait_until(
        lambda: invocations_with_status(proc.admin_url, "suspended") >= set(suspended),
        10,
        "the first ten invocations to suspend",
    )
    live = _start_all(proc, [("wait_once_live", slow_after)] * 10)
    awakeables |= _handed_out(traces, live)
    payloads = _resolve_all(proc, awakeables)
    proc.kill()

    journals = _journals_on_disk(proc.data_dir, list(awakeables))
    on_disk = {
        iid: [
            json.loads(e.result.value or b"null")
            for e in journal
            if isinstance(e, SignalNotification) and e.index == FIRST_AWAKEABLE
        ]
        for iid, journal in journals.items()
    }
    assert on_disk == {iid: [payloads[iid]] for iid in awakeables}
    assert not any(isinstance(e, OutputCommand) for j in journals.values() for e in j)

    proc.start()
    _assert_results(proc, payloads)
