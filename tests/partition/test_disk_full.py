"""A full disk (a real, small tmpfs): clear 503s while it is full, writes succeed again once
space is freed, with no restart (real `wakeful serve`)."""

from __future__ import annotations

import errno
import gc
import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.partition.apps import APP, TRACES_ENV
from tests.support.server import ServerFactory, WakefulProcess

BIG = "x" * 400_000  # a body the journal cannot take without the write-ahead log growing


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs, mounted for the test."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        print(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
        pytest.skip("mounting a tmpfs is impossible here (not root?)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _fill(disk: Path) -> Path:
    """Fill the disk up with one file; return it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler


def _health(server: WakefulProcess) -> list[int]:
    return [
        httpx.get(f"{server.url}/restate/health", timeout=5).status_code,
        httpx.get(f"{server.admin_url}/health", timeout=5).status_code,
    ]


def test_full_disk_answers_503_and_recovers_when_space_is_freed(
    serve: ServerFactory, tmp_path: Path, small_disk: Path
) -> None:
    """Requests get a JSON 503 naming the full disk, health turns 503; after the filler is
    deleted health is 200 again and the same request succeeds, on the same process."""
    server = serve(APP, traces_env=TRACES_ENV, start=False)
    server.data_dir = small_disk / "data"  # the store on the small disk, the log off it
    server.log_dir = tmp_path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # see ServerFactory.__call__
        server.start()
        gc.collect()
    try:
        before = httpx.post(f"{server.url}/Echo/say", json="before", timeout=10)
        assert before.status_code == 200
        filler = _fill(small_disk)
        refused = httpx.post(f"{server.url}/Echo/say", json=BIG, timeout=10)
        assert refused.status_code == 503, refused.text
        assert "full" in refused.json()["message"]
        assert _health(server) == [503, 503]
        reason = httpx.get(f"{server.admin_url}/health", timeout=5).json()["message"]
        assert "full" in reason
        filler.unlink()
        deadline = time.monotonic() + 10
        while _health(server) != [200, 200] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _health(server) == [200, 200]
        after = httpx.post(f"{server.url}/Echo/say", json=BIG, timeout=10)
        assert after.status_code == 200
        assert after.json() == BIG
        listed = httpx.get(f"{server.admin_url}/invocations", timeout=10).json()["invocations"]
        assert len(listed) == 2  # the refused request left nothing behind
        assert server.process is not None
        assert server.process.poll() is None  # no restart
    finally:
        server.stop()
