"""A handler whose code changed while its invocation was suspended, over a real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.apps_durability import attach, describe, resolve, send, wait_until
from tests.e2e.apps_replay import APP, TRACES_ENV
from tests.support.server import ServerFactory, WakefulProcess


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> tuple[WakefulProcess, Path]:
    """One server (inactivity timeout 0: every await suspends) and its traces folder."""
    process = serve_module(APP, traces_env=TRACES_ENV, name="replay")
    return process, process.traces_dir


def test_swallowed_mismatch_fails_the_attempt_with_570_until_the_code_is_restored(
    server: tuple[WakefulProcess, Path],
) -> None:
    """The replay journals another step name than recorded; the handler's `except Exception`
    does not hide it: the attempt fails with 570 and a field diff, the invocation is retried
    (not completed), and completes once the code matches its journal again."""
    proc, traces = server
    iid = send(proc.url, "Replay/swallowing", None)
    awakeable = wait_until(
        lambda: (p := traces / f"awakeable-{iid}").exists() and p.read_text(), 10, "awakeable"
    )
    wait_until(lambda: describe(proc.admin_url, iid)["status"] == "suspended", 10, "suspended")

    (traces / "step-name").write_text("refund")
    resolve(proc.url, awakeable, "yes")
    failed = wait_until(
        lambda: (d := describe(proc.admin_url, iid))["last_failure"] and d, 10, "a failure"
    )
    assert failed["status"] != "completed"
    assert failed["last_failure"]["code"] == 570
    message = failed["last_failure"]["message"]
    assert "at command index 1" in message
    assert "name: recorded 'charge', handler 'refund'" in message

    (traces / "step-name").write_text("charge")
    response = attach(proc.url, iid)
    assert response.status_code == 200, response.text
    assert response.json() == "approved: yes"
