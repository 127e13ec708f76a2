"""What an operator sees of a real server: `/metrics` in Prometheus's format (parsed with
prometheus_client's parser) and the lifecycle told by the logs (`--log-format json`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.apps_durability import wait_until
from tests.ops.apps_ops import APP, TRACES_ENV
from tests.support.server import WakefulProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WakefulProcess]:
    """A server logging JSON at debug level; every wait suspends; retries come fast."""
    root = tmp_path_factory.mktemp("observe")
    process = WakefulProcess(
        app=APP,
        data_dir=root / "data",
        inactivity_timeout="0",
        env={TRACES_ENV: str(root)},
        extra_args=["--log-level", "debug", "--log-format", "json", "--retry-initial-interval",
                    "10ms", "--access-log", "--blocked-loop-threshold", "1s"],
    )  # fmt: skip
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _awakeable(server: WakefulProcess, label: str) -> str:
    path = server.data_dir.parent / "awakeables.log"

    def probe() -> str | None:
        lines = path.read_text().splitlines() if path.exists() else []
        return next((ln.split(" ")[1] for ln in lines if ln.split(" ")[0] == label), None)

    return wait_until(probe, 10, f"the awakeable of {label}")


def _flow(server: WakefulProcess, label: str) -> str:
    """Send Waiter/wait, let it suspend, resolve its awakeable, wait for the result."""
    iid: str = httpx.post(f"{server.url}/Waiter/wait/send", json=label, timeout=10).json()[
        "invocationId"
    ]
    awakeable = _awakeable(server, label)
    wait_until(
        lambda: httpx.get(f"{server.admin_url}/invocations/{iid}").json()["status"] == "suspended",
        10,
        "suspension",
    )
    resolved = httpx.post(
        f"{server.url}/restate/awakeables/{awakeable}/resolve", json="ok", timeout=10
    )
    assert resolved.status_code == 202
    attached = httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=10)
    assert attached.json() == f"{label}:ok"
    return iid


def _samples(server: WakefulProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{server.admin_url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_the_lifecycle(server: WakefulProcess) -> None:
    """After a resolved awakeable flow, a retried call and a still-waiting handler, /metrics
    shows them: statuses, pending awakeables, attempts by outcome, retries, resume latency,
    group commits and event-loop lag."""
    _flow(server, "metrics")
    assert httpx.post(f"{server.url}/Flaky/once", json="m", timeout=20).json() == "m"
    waiting = httpx.post(f"{server.url}/Waiter/wait/send", json="still", timeout=10)
    assert waiting.status_code == 202
    _awakeable(server, "still")

    def pending_awakeables() -> float | None:
        value = _samples(server)[("wakeful_pending", (("kind", "awakeable"),))]
        return value if value >= 1 else None

    wait_until(pending_awakeables, 10, "the waiting handler counted as pending")
    got = _samples(server)
    assert got[("wakeful_invocations", (("status", "completed"),))] >= 2
    assert got[("wakeful_invocations", (("status", "suspended"),))] >= 1
    assert got[("wakeful_pending", (("kind", "timer"),))] == 0
    assert got[("wakeful_attempts_total", (("outcome", "suspended"),))] >= 1
    assert got[("wakeful_attempts_total", (("outcome", "failed"),))] >= 1
    assert got[("wakeful_retries_total", ())] >= 1
    assert got[("wakeful_attempts_started_total", (("kind", "resumed"),))] >= 1
    assert got[("wakeful_invocations_finished_total", (("outcome", "success"),))] >= 2
    assert got[("wakeful_resolve_to_resume_seconds_count", ())] >= 1
    assert got[("wakeful_commit_batch_events_count", ())] >= 1
    assert (
        got[("wakeful_commit_batch_events_sum", ())]
        >= got[("wakeful_commit_batch_events_count", ())]
    )
    assert got[("wakeful_commit_seconds_count", ())] >= 1
    assert got[("wakeful_event_loop_lag_seconds_count", ())] >= 1


def _log_lines(server: WakefulProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def test_logs_tell_the_lifecycle_with_the_invocation_id(server: WakefulProcess) -> None:
    """At debug level an awakeable flow logs accepted, started, suspended, resumed and completed,
    each with its invocation id; the handler's own line carries the id too; a retry names the
    error; the start is announced once, without uvicorn's duplicate lines; --access-log adds a
    line a request."""
    iid = _flow(server, "logs")
    assert httpx.post(f"{server.url}/Flaky/once", json="l", timeout=20).json() == "l"

    def story() -> list[str] | None:
        mine = [r["message"] for r in _log_lines(server) if r.get("invocation_id") == iid]
        return mine if any("completed" in m for m in mine) else None

    messages = wait_until(story, 10, "the completion log line")
    for word in ("accepted", "attempt 1 started", "suspended", "resumed", "completed"):
        assert any(word in m for m in messages), (word, messages)
    assert any(m.startswith("waiting for sign_1") for m in messages)  # the handler's own log
    records = _log_lines(server)
    retried = [r for r in records if "will be retried" in r["message"]]
    assert retried
    assert "first attempt of l fails" in retried[-1]["message"]
    assert retried[-1]["target"] == "Flaky/once"
    assert retried[-1]["attempt"] == 1
    assert sum("wakeful serving" in r["message"] for r in records) == 1
    assert not any("Uvicorn running" in r["message"] for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("POST /Flaky/once" in r["message"] for r in access)  # --access-log


def test_text_logs_name_the_invocation(tmp_path: Path) -> None:
    """In the text format a handler's log line ends with the invocation id in brackets."""
    process = WakefulProcess(
        app=APP, data_dir=tmp_path / "data", inactivity_timeout="0", env={TRACES_ENV: str(tmp_path)}
    ).start()
    try:
        iid = httpx.post(f"{process.url}/Waiter/wait/send", json="t", timeout=10).json()[
            "invocationId"
        ]
        line = wait_until(
            lambda: next((ln for ln in process.log().splitlines() if "waiting for" in ln), None),
            10,
            "the handler's log line",
        )
        assert line.endswith(f"[{iid}]")
    finally:
        process.stop()


def test_a_blocked_event_loop_is_reported(server: WakefulProcess) -> None:
    """A handler that blocks the loop for 2 s is named in the watchdog's warning and shows in
    the lag metrics (the largest lag since the last scrape). The watchdog looks every 0.5 s at a
    heartbeat of every 0.25 s: a block over the 1 s threshold is seen for sure from 1.75 s."""
    _samples(server)  # start a fresh window for the maximum
    assert httpx.post(f"{server.url}/Caller/block", json=2.0, timeout=20).status_code == 200
    warned = wait_until(
        lambda: [r for r in _log_lines(server) if "event loop has been blocked" in r["message"]],
        5,
        "the blocked-loop warning",
    )
    assert warned[-1]["level"] == "warning"
    assert "Caller/block" in warned[-1]["message"]
    assert _samples(server)[("wakeful_event_loop_lag_max_seconds", ())] >= 1.0
