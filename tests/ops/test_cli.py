"""The operator commands (`wakeful invocations|state|awakeables …`) against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from tests.e2e.apps_durability import wait_until
from tests.ops.apps_ops import APP, TRACES_ENV
from tests.support.server import WakefulProcess

from wakeful.cli import main


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WakefulProcess]:
    """One server of the ops app for the module (every wait suspends at once)."""
    root = tmp_path_factory.mktemp("cli")
    process = WakefulProcess(
        app=APP, data_dir=root / "data", inactivity_timeout="0", env={TRACES_ENV: str(root)}
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wakeful(
    server: WakefulProcess, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`python -m wakeful ARGS` with the server's addresses in WAKEFUL_ADMIN_URL/INGRESS_URL."""
    env = {**os.environ, "WAKEFUL_ADMIN_URL": server.admin_url, "WAKEFUL_INGRESS_URL": server.url}
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _send(server: WakefulProcess, path: str, body: object) -> str:
    answer = httpx.post(f"{server.url}/{path}/send", json=body, timeout=10)
    assert answer.status_code in (200, 202), answer.text
    iid: str = answer.json()["invocationId"]
    return iid


def _awakeable(server: WakefulProcess, label: str) -> str:
    path = server.data_dir.parent / "awakeables.log"

    def probe() -> str | None:
        lines = path.read_text().splitlines() if path.exists() else []
        return next((ln.split(" ")[1] for ln in lines if ln.split(" ")[0] == label), None)

    return wait_until(probe, 10, f"the awakeable of {label}")


def _status(server: WakefulProcess, iid: str) -> str:
    status: str = httpx.get(f"{server.admin_url}/invocations/{iid}", timeout=5).json()["status"]
    return status


def test_list_filters_and_json(server: WakefulProcess) -> None:
    """list --status/--service/--since/--limit/--json select and print the right invocations."""
    waiting = _send(server, "Waiter/wait", "list")
    _awakeable(server, "list")
    wait_until(lambda: _status(server, waiting) == "suspended", 10, "suspension")
    counted = httpx.post(f"{server.url}/Counter/k1/add", json=1, timeout=10)
    assert counted.status_code == 200

    rows = json.loads(
        wakeful(server, "invocations", "list", "--status", "suspended", "--json").stdout
    )
    assert waiting in {r["id"] for r in rows}
    assert {r["status"] for r in rows} == {"suspended"}

    rows = json.loads(
        wakeful(server, "invocations", "list", "--service", "Counter", "--json").stdout
    )
    assert rows
    assert {r["target"].split("/")[0] for r in rows} == {"Counter"}

    assert json.loads(
        wakeful(server, "invocations", "list", "--since", "2020-01-01", "--json").stdout
    )
    future = wakeful(server, "invocations", "list", "--since", "2999-01-01")
    assert future.stdout.strip() == "no invocations"
    one = json.loads(wakeful(server, "invocations", "list", "--limit", "1", "--json").stdout)
    assert len(one) == 1

    text = wakeful(server, "invocations", "list", "--service", "Waiter").stdout
    line = next(ln for ln in text.splitlines() if ln.startswith(waiting))
    assert "suspended" in line
    assert "Waiter/wait" in line
    assert "ago)" in line  # a readable creation time, not milliseconds


def test_cancel_kill_and_purge(server: WakefulProcess) -> None:
    """cancel ends a waiting handler with 409, kill ends one at once, purge forgets them."""
    cancelled = _send(server, "Waiter/wait", "cancel-me")
    killed = _send(server, "Waiter/wait", "kill-me")
    _awakeable(server, "cancel-me")
    _awakeable(server, "kill-me")

    assert "cancellation requested" in wakeful(server, "invocations", "cancel", cancelled).stdout
    assert "killed" in wakeful(server, "invocations", "kill", killed).stdout
    for iid in (cancelled, killed):
        wait_until(lambda i=iid: _status(server, i) == "completed", 10, f"{iid} completed")
    output = httpx.get(f"{server.url}/restate/invocation/{cancelled}/output", timeout=5)
    assert output.status_code == 409

    purged = wakeful(server, "invocations", "purge", cancelled, killed).stdout
    assert purged.count("purged") == 2
    gone = httpx.get(f"{server.admin_url}/invocations/{cancelled}", timeout=5)
    assert gone.status_code == 404


def test_operating_errors_name_the_invocation_and_fail(server: WakefulProcess) -> None:
    """An unknown id or a refused operation prints the server's reason and exits non-zero."""
    running = _send(server, "Waiter/wait", "not-purgeable")
    _awakeable(server, "not-purgeable")
    done = wakeful(server, "invocations", "purge", running, check=False)
    assert done.returncode == 1
    assert f"{running}: HTTP 409" in done.stderr
    bad = wakeful(server, "invocations", "cancel", "inv_nonsense", check=False)
    assert bad.returncode == 1
    assert "HTTP 400" in bad.stderr


def test_awakeable_resolve_and_reject(server: WakefulProcess) -> None:
    """awakeables resolve/reject complete the waiting handlers through the ingress."""
    good = _send(server, "Waiter/wait", "good")
    bad = _send(server, "Waiter/wait", "bad")
    wakeful(server, "awakeables", "resolve", _awakeable(server, "good"), '"yes"')
    wakeful(server, "awakeables", "reject", _awakeable(server, "bad"), "no way")
    attached = httpx.get(f"{server.url}/restate/invocation/{good}/attach", timeout=10)
    assert attached.json() == "good:yes"
    failed = httpx.get(f"{server.url}/restate/invocation/{bad}/attach", timeout=10)
    assert failed.status_code >= 400
    assert "no way" in failed.text


def test_state_list_and_get(server: WakefulProcess) -> None:
    """state list names a key's entries, state get prints their values."""
    for n in (3, 4):
        assert httpx.post(f"{server.url}/Counter/alice/add", json=n, timeout=10).status_code == 200
    listed = wakeful(server, "state", "list", "Counter", "alice").stdout.splitlines()
    assert [ln.split()[0] for ln in listed] == ["last", "total"]
    assert wakeful(server, "state", "get", "Counter", "alice", "total").stdout.strip() == "7"
    every = wakeful(server, "state", "get", "Counter", "alice").stdout
    assert 'last = "added 4"' in every
    as_json = json.loads(wakeful(server, "state", "get", "Counter", "alice", "--json").stdout)
    assert {e["name"]: e["value"] for e in as_json} == {"last": '"added 4"', "total": "7"}
    assert wakeful(server, "state", "list", "Counter", "nobody").stdout.strip() == "no state"
    missing = wakeful(server, "state", "get", "Counter", "alice", "nope", check=False)
    assert missing.returncode == 1
    assert "no state entry 'nope'" in missing.stderr
    unknown = wakeful(server, "state", "list", "Nope", "x", check=False)
    assert "HTTP 404" in unknown.stderr


def test_admin_list_refuses_bad_parameters(server: WakefulProcess) -> None:
    """The admin list answers 400 naming a bad status, limit or since."""
    for params, word in (({"status": "sleepy"}, "status"), ({"limit": "0"}, "limit"),
                         ({"since": "yesterday"}, "since")):  # fmt: skip
        answer = httpx.get(f"{server.admin_url}/invocations", params=params, timeout=5)
        assert answer.status_code == 400
        assert word in answer.json()["message"]


def test_unreachable_server_is_a_one_line_error(server: WakefulProcess) -> None:
    """With nothing listening the command fails with the address, not a traceback."""
    done = wakeful(server, "invocations", "list", "--admin", "http://127.0.0.1:9", check=False)
    assert done.returncode == 1
    assert "http://127.0.0.1:9/invocations" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["invocations"],
        ["invocations", "list"],
        ["invocations", "describe"],
        ["invocations", "cancel"],
        ["invocations", "kill"],
        ["invocations", "purge"],
        ["invocations", "resume"],
        ["awakeables", "list"],
        ["awakeables", "resolve"],
        ["promises", "list"],
        ["awakeables", "reject"],
        ["state", "list"],
        ["state", "get"],
    ],
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    """`--help` of each command shows at least one example invocation of it."""
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"wakeful {' '.join(command)}" in result.output


def test_python_dash_m_wakeful_runs_the_cli() -> None:
    """`python -m wakeful --help` works and calls itself `wakeful`."""
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage: wakeful" in done.stdout
    assert "invocations" in done.stdout
