"""`wakeful serve --store URL`: a real server on PostgreSQL survives kill -9 with nothing lost;
`sqlite:///DIR` is the same as `--data-dir DIR`; a bad URL is refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.apps_durability import (
    APP,
    TRACES_ENV,
    Traces,
    attach,
    resolve,
    send,
    wait_status,
)
from tests.support.postgres import postgres_schema
from tests.support.server import WakefulProcess


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as conninfo:
        yield conninfo


def _server(tmp_path: Path, store: str) -> WakefulProcess:
    (tmp_path / "traces").mkdir(exist_ok=True)
    return WakefulProcess(
        app=APP,
        data_dir=tmp_path / "unused",
        inactivity_timeout="0",
        extra_args=["--store", store],
        env={TRACES_ENV: str(tmp_path / "traces")},
    )


def test_a_server_on_postgres_keeps_suspended_work_across_kill_9(
    tmp_path: Path, postgres_url: str
) -> None:
    """Invocations suspended on awakeables in PostgreSQL complete after a kill -9 and restart;
    each step ran once, and nothing was written to the SQLite data dir."""
    traces = Traces(tmp_path / "traces")
    server = _server(tmp_path, postgres_url).start()
    try:
        iids = [send(server.url, "Durability/pipeline", f"n{i}") for i in range(5)]
        firsts = {iid: traces.awakeable(iid, "first") for iid in iids}
        for iid in iids:
            wait_status(server.admin_url, iid, "suspended")
        server.kill()
        server.start()
        for awakeable_id in firsts.values():
            resolve(server.url, awakeable_id, "one")
        for iid in iids:
            resolve(server.url, traces.awakeable(iid, "second"), "two")
        for i, iid in enumerate(iids):
            response = attach(server.url, iid)
            assert response.status_code == 200, response.text
            assert response.json()["name"] == f"n{i}"
            assert response.json()["payloads"] == ["one", "two"]
        assert set(traces.steps().values()) == {1}
        assert not (tmp_path / "unused" / "wakeful.sqlite").exists()
    finally:
        server.kill()


def test_sqlite_url_is_the_data_dir(tmp_path: Path) -> None:
    """`--store sqlite:////abs/dir` is `--data-dir /abs/dir`: the database and the lock live
    there."""
    data = tmp_path / "data"
    server = _server(tmp_path, f"sqlite:///{data}").start()
    try:
        assert server.process is not None
        iid = send(server.url, "Durability/wait_once", {})
        wait_status(server.admin_url, iid, "suspended")
        assert (data / "wakeful.sqlite").exists()
        assert (data / "wakeful.lock").read_text().strip() == str(server.process.pid)
    finally:
        server.kill()


def test_a_bad_store_url_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """An unknown scheme exits with a usage error naming --store, before serving anything."""
    result = subprocess.run(
        [sys.executable, "-m", "wakeful.cli", "serve", APP, "--store", "mysql://db/x"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "WAKEFUL_STORE": ""},
    )
    assert result.returncode == 2
    assert "--store" in result.stderr
    assert "unknown scheme 'mysql'" in result.stderr
