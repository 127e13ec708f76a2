"""Named signals over a real server: resolved before or after the handler awaits them, rejected
with a code, raced against a timer, gathered, sent from another handler, surviving kill -9, and
only the first completion of a name counts.

The servers run with `--inactivity-timeout 0`: a handler waiting for a signal suspends at once,
and each resumption replays its journal.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from tests.e2e.apps_durability import wait_status
from tests.e2e.apps_signals import APP
from tests.support.server import ServerFactory, WakefulProcess

from wakeful.cli import main


@pytest.fixture(scope="module")
def server(serve_module: ServerFactory) -> WakefulProcess:
    """One server for the module."""
    return serve_module(APP)


def _start(proc: WakefulProcess, path: str, body: Any = None) -> str:
    response = httpx.post(f"{proc.url}/{path}/send", json=body, timeout=10)
    assert response.status_code == 202, response.text
    iid: str = response.json()["invocationId"]
    return iid


def _signal(
    proc: WakefulProcess, iid: str, name: str, value: Any, action: str = "resolve", code: int = 0
) -> httpx.Response:
    url = f"{proc.url}/restate/invocation/{iid}/signals/{name}/{action}"
    if action == "reject":
        return httpx.post(url, content=value, params={"code": code} if code else None, timeout=10)
    return httpx.post(url, content=json.dumps(value), timeout=10)


def _result(proc: WakefulProcess, iid: str) -> Any:
    response = httpx.get(f"{proc.url}/restate/invocation/{iid}/attach", timeout=20)
    assert response.status_code == 200, response.text
    return response.json()


def test_resolve_after_the_await(server: WakefulProcess) -> None:
    """A suspended handler waiting on its signal resumes with the value sent by name."""
    iid = _start(server, "Waiter/approval")
    wait_status(server.admin_url, iid, "suspended")
    assert _signal(server, iid, "approved", "yes").status_code == 202
    assert _result(server, iid) == "yes"


def test_resolve_before_the_await_is_buffered(server: WakefulProcess) -> None:
    """A signal delivered before the handler asks for it waits in the journal."""
    iid = _start(server, "Waiter/gated", "gate")
    wait_status(server.admin_url, iid, "suspended")
    _signal(server, iid, "value", 42)
    _signal(server, iid, "gate", None)
    assert _result(server, iid) == 42


def test_reject_with_a_code(server: WakefulProcess) -> None:
    """A rejection reaches the awaiter as a TerminalError with the code and message."""
    iid = _start(server, "Waiter/approval")
    wait_status(server.admin_url, iid, "suspended")
    assert _signal(server, iid, "approved", b"not this time", "reject", 403).status_code == 202
    assert _result(server, iid) == [403, "not this time"]


def test_a_second_completion_of_the_same_name_is_ignored(server: WakefulProcess) -> None:
    """The first resolve of a name wins; later resolves and rejects of it change nothing."""
    iid = _start(server, "Waiter/gated", "gate")
    _signal(server, iid, "value", 1)
    _signal(server, iid, "value", 2)
    _signal(server, iid, "value", b"late", "reject", 409)
    strict = httpx.post(
        f"{server.url}/restate/invocation/{iid}/signals/value/resolve",
        params={"strict": "true"}, content=b"3", timeout=10,
    )  # fmt: skip
    assert strict.status_code == 409  # as for awakeables: already completed, otherwise
    assert strict.headers["x-wakeful-completion"] == "conflict"
    _signal(server, iid, "gate", None)
    assert _result(server, iid) == 1
    journal = httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=10).json()["journal"]
    assert [e["entry"] for e in journal].count("Signal(name='value')") == 1


@pytest.mark.parametrize(
    ("timeout_ms", "signal_first", "expected"),
    [(60_000, True, ["go", "now"]), (200, False, ["timeout", None])],
)
def test_a_signal_racing_a_timer(
    server: WakefulProcess, timeout_ms: int, signal_first: bool, expected: list[Any]
) -> None:
    """select() between a signal and a sleep: whichever completes first wins; a signal after
    the timer fired changes nothing."""
    iid = _start(server, "Waiter/race", timeout_ms)
    wait_status(server.admin_url, iid, "suspended")
    if signal_first:
        _signal(server, iid, "go", "now")
    assert _result(server, iid) == expected
    _signal(server, iid, "go", "too late")
    assert _result(server, iid) == expected


def test_gather_waits_for_both_signals(server: WakefulProcess) -> None:
    """gather() over two named signals completes once both arrived, in any order."""
    iid = _start(server, "Waiter/both")
    wait_status(server.admin_url, iid, "suspended")
    _signal(server, iid, "b", 2)
    wait_status(server.admin_url, iid, "suspended")
    _signal(server, iid, "a", 1)
    assert _result(server, iid) == [1, 2]


def test_signals_from_another_handler(server: WakefulProcess) -> None:
    """ctx.resolve_signal / ctx.reject_signal address another invocation's signal by name."""
    first = _start(server, "Waiter/approval")
    second = _start(server, "Waiter/approval")
    request = {"to": first, "name": "approved", "value": "from a handler"}
    assert httpx.post(f"{server.url}/Sender/send", json=request, timeout=10).status_code == 200
    reject = {"to": second, "name": "approved", "reject": "no", "code": 418}
    assert httpx.post(f"{server.url}/Sender/send", json=reject, timeout=10).status_code == 200
    assert _result(server, first) == "from a handler"
    assert _result(server, second) == [418, "no"]


def test_bad_signal_requests_are_refused(server: WakefulProcess) -> None:
    """A malformed invocation id, a bad code or a bad action: 400 naming the problem."""
    bad_id = httpx.post(f"{server.url}/restate/invocation/nope/signals/x/resolve", timeout=10)
    assert bad_id.status_code == 400
    iid = _start(server, "Waiter/approval")
    bad_code = _signal(server, iid, "approved", b"m", "reject", 5)
    assert bad_code.status_code == 400
    assert "code" in bad_code.json()["message"]
    bad_action = httpx.post(f"{server.url}/restate/invocation/{iid}/signals/x/shout", timeout=10)
    assert bad_action.status_code == 400
    _signal(server, iid, "approved", "done")
    assert _result(server, iid) == "done"


def test_a_signal_before_the_invocation_starts(server: WakefulProcess) -> None:
    """A delayed send can be signalled before it starts: it finds the signal at once."""
    response = httpx.post(
        f"{server.url}/Waiter/approval/send", params={"delay": "500ms"}, timeout=10
    )
    iid = response.json()["invocationId"]
    assert _signal(server, iid, "approved", "early").status_code == 202
    assert _result(server, iid) == "early"


def test_a_waiting_signal_survives_kill_9(serve: ServerFactory) -> None:
    """kill -9 while a handler waits on a signal, and with another signal already buffered:
    after the restart, resolving by name completes both."""
    proc = serve(APP)
    waiting = _start(proc, "Waiter/approval")
    buffered = _start(proc, "Waiter/gated", "gate")
    wait_status(proc.admin_url, waiting, "suspended")
    _signal(proc, buffered, "value", 7)
    proc.kill()
    proc.start()
    _signal(proc, waiting, "approved", "after the crash")
    _signal(proc, buffered, "gate", None)
    assert _result(proc, waiting) == "after the crash"
    assert _result(proc, buffered) == 7


def test_the_cli_resolves_and_rejects_signals(server: WakefulProcess) -> None:
    """`wakeful signals resolve|reject` complete a named signal over the ingress."""
    resolved, rejected = _start(server, "Waiter/approval"), _start(server, "Waiter/approval")
    runner = CliRunner()
    ingress = ["--ingress", server.url]
    out = runner.invoke(main, ["signals", "resolve", resolved, "approved", '"ok"', *ingress])
    assert out.exit_code == 0, out.output
    args = ["signals", "reject", rejected, "approved", "no", "--code", "451", *ingress]
    assert runner.invoke(main, args).exit_code == 0
    assert _result(server, resolved) == "ok"
    assert _result(server, rejected) == [451, "no"]
