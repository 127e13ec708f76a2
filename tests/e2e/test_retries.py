"""Retries over a real server: invocation retry policies (backoff, pause, kill, resume) and the
retry options of a single `ctx.run` step."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.e2e.apps_durability import (
    APP,
    TRACES_ENV,
    Traces,
    attach,
    describe,
    send,
    wait_status,
)
from tests.support.server import ServerFactory, WakefulProcess


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> tuple[WakefulProcess, Traces]:
    """One server for the module, and its trace reader."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="retries")
    return process, Traces(process.traces_dir)


def test_failing_attempts_are_retried_until_the_handler_succeeds(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """A handler raising a plain exception on its first two attempts backs off, is retried with
    the server's default policy, and the caller gets the third attempt's success."""
    proc, traces = server
    iid = send(proc.url, "Retries/flaky", None)

    backing_off = wait_status(proc.admin_url, iid, "backing-off")
    retries = backing_off["retry_count"]
    assert retries in (1, 2)  # 1 unless this poll missed the first 500 ms backoff
    assert backing_off["last_failure"]["code"] == 500
    assert f"ValueError: flaky attempt {retries}" in backing_off["last_failure"]["message"]

    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    assert response.json() == "succeeded on attempt 3"
    info = describe(proc.admin_url, iid)
    assert (info["status"], info["attempt"], info["retry_count"]) == ("completed", 3, 2)
    assert traces.attempts(iid) == 3


def test_exhausted_retries_pause_and_resume_restarts_the_invocation(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """With max_attempts=3 and on_max_attempts="pause", an always failing handler is paused
    after exactly 3 attempts; PATCH /invocations/{id}/resume starts it again."""
    proc, traces = server
    iid = send(proc.url, "Retries/until_flagged_pause", None)

    paused = wait_status(proc.admin_url, iid, "paused")
    assert paused["retry_count"] == 3
    assert "ValueError: failing attempt 3" in paused["last_failure"]["message"]
    time.sleep(0.3)  # six times the retry interval: a paused invocation is not retried
    assert traces.attempts(iid) == 3
    assert describe(proc.admin_url, iid)["status"] == "paused"

    traces.set_flag(iid)
    resumed = httpx.patch(f"{proc.admin_url}/invocations/{iid}/resume", timeout=10)
    assert resumed.status_code == 200, resumed.text
    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    assert response.json() == "succeeded on attempt 4"
    assert traces.attempts(iid) == 4
    again = httpx.patch(f"{proc.admin_url}/invocations/{iid}/resume", timeout=10)
    assert again.status_code == 409  # only a paused invocation resumes


def test_exhausted_retries_kill_completes_the_invocation_with_the_failure(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """With max_attempts=3 and on_max_attempts="kill", an always failing handler completes with
    the last failure after exactly 3 attempts: attach answers 500 with its message."""
    proc, traces = server
    iid = send(proc.url, "Retries/always_fails_kill", None)

    response = attach(proc.url, iid)
    assert response.status_code == 500, response.text
    assert "ValueError: failing attempt 3" in response.json()["message"]
    info = describe(proc.admin_url, iid)
    assert info["status"] == "completed"
    assert "ValueError: failing attempt 3" in info["result"]["failure"]["message"]
    time.sleep(0.3)  # six times the retry interval: a killed invocation is not retried
    assert traces.attempts(iid) == 3


def test_step_with_max_attempts_raises_a_catchable_terminal_error(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """A ctx.run step with RunOptions(max_attempts=3) that always fails is tried 3 times in the
    same attempt, then raises a TerminalError the handler catches."""
    proc, traces = server
    iid = send(proc.url, "Retries/step_gives_up", None)

    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    out = response.json()
    assert "'doomed' failed after 3 attempts" in out["caught"]
    assert "doomed try 3 failed" in out["caught"]  # the last error's message
    assert out["status_code"] == 500
    assert traces.steps()[(iid, "doomed")] == 3
    info = describe(proc.admin_url, iid)
    assert (info["attempt"], info["retry_count"]) == (1, 0)  # retried in place, not the handler


def test_step_with_max_attempts_succeeds_on_a_later_try(
    server: tuple[WakefulProcess, Traces],
) -> None:
    """A ctx.run step with RunOptions(max_attempts=3) that fails twice returns the third try's
    value, recorded once; the invocation itself is not retried."""
    proc, traces = server
    iid = send(proc.url, "Retries/step_recovers", None)

    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    assert response.json() == "shaky succeeded on try 3"
    assert traces.steps()[(iid, "shaky")] == 3
    info = describe(proc.admin_url, iid)
    assert (info["status"], info["attempt"], info["retry_count"]) == ("completed", 1, 0)
