"""The deadlock guard names the handler that blocks the event loop (real `wakeful serve`)."""

from __future__ import annotations

import time

import httpx
from tests.partition.apps import APP, TRACES_ENV
from tests.support.server import ServerFactory


def test_blocking_handler_is_reported_with_its_invocation(serve: ServerFactory) -> None:
    """A handler that sleeps on the loop past the threshold is logged with its invocation id
    and handler, and the server says when the loop is free again."""
    server = serve(APP, traces_env=TRACES_ENV, extra_args=["--blocked-loop-threshold", "300ms"])
    answer = httpx.post(f"{server.url}/Blocker/block", json=1.0, timeout=10)
    assert answer.status_code == 200
    iid = answer.headers["x-restate-id"]
    deadline = time.monotonic() + 5
    while "free again" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    blocked = [line for line in log.splitlines() if "event loop has been blocked" in line]
    assert len(blocked) == 1, log
    assert f"invocation {iid} (Blocker/block)" in blocked[0]
    assert "free again" in log
    quick = httpx.post(f"{server.url}/Echo/say", json="x", timeout=10)
    assert quick.status_code == 200
    assert server.log().count("event loop has been blocked") == 1  # quiet when not blocked
