"""Handler options restate-sdk has beyond wakeful's first version, honoured over a real server."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.e2e.apps_options import APP
from tests.support.server import ServerFactory, WakefulProcess


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> WakefulProcess:
    """One server for the module (1 s inactivity timeout: the default)."""
    return serve_module(APP, inactivity_timeout="1s")


def test_invocation_context_managers_wrap_the_handler(server: WakefulProcess) -> None:
    """Service-level then handler-level context managers are entered around the handler,
    a `contextvar` manager's value is readable inside, `current_context()` is the handler's
    context, and the managers exit when the attempt ends."""
    inside = httpx.post(f"{server.url}/Managed/inside", timeout=10).json()
    assert inside == {
        "session": "session-1",
        "current_context_is_ctx": True,
        "entered": ["service", "handler"],
    }
    after = httpx.post(f"{server.url}/Managed/after", timeout=10).json()
    assert after == ["service-exit", "service"]  # `after` has only the service-level one


def test_abort_timeout_aborts_an_attempt_without_progress(server: WakefulProcess) -> None:
    """A handler whose attempt makes no journal progress for its inactivity timeout plus its
    abort timeout (a ctx.run hangs) has that attempt aborted and retried."""
    started = time.monotonic()
    response = httpx.post(f"{server.url}/Stuck/slow_step", json="t1", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == 2  # the step ran again in the second attempt
    assert time.monotonic() - started < 20  # far from the 60 s the first try would hang
