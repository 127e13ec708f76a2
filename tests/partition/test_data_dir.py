"""One writer per data directory, and a clear one-line error for an unusable one."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.partition.apps import APP, TRACES_ENV
from tests.support.server import ServerFactory, free_port


def _serve(data_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `wakeful serve` expecting it to refuse to start."""
    cmd = [
        sys.executable, "-m", "wakeful.cli", "serve", APP,
        "--data-dir", str(data_dir),
        "--port", str(free_port()),
        "--admin-port", str(free_port()),
    ]  # fmt: skip
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, TRACES_ENV: str(tmp_path)},
    )


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_second_server_on_the_same_data_dir_is_refused(
    serve: ServerFactory, tmp_path: Path
) -> None:
    """A second `wakeful serve` on a data dir in use exits non-zero naming the holder's pid,
    and the first one keeps serving; kill -9 leaves no stale lock behind."""
    first = serve(APP, traces_env=TRACES_ENV)
    assert first.process is not None
    line = _one_line_error(_serve(first.data_dir, tmp_path))
    assert f"pid {first.process.pid}" in line
    assert "in use" in line
    answer = httpx.post(f"{first.url}/Echo/say", json="still here", timeout=10)
    assert answer.json() == "still here"
    first.kill()
    first.start()  # the same data directory
    again = httpx.post(f"{first.url}/Echo/say", json="again", timeout=10)
    assert again.json() == "again"


def test_data_dir_under_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    """A data dir that cannot be created is reported in one line, not a traceback."""
    (tmp_path / "file").write_text("not a directory")
    line = _one_line_error(_serve(tmp_path / "file" / "data", tmp_path))
    assert "Not a directory" in line


@contextlib.contextmanager
def _read_only_mount(where: Path) -> Iterator[None]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        print(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
        pytest.skip("mounting a read-only tmpfs is impossible here (not root?)")
    try:
        yield
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_read_only_data_dir_is_a_one_line_error(tmp_path: Path) -> None:
    """A read-only data dir is reported in one line, not a traceback."""
    with _read_only_mount(tmp_path / "ro"):
        line = _one_line_error(_serve(tmp_path / "ro", tmp_path))
        assert "Read-only file system" in line
