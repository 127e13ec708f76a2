"""Real `wakeful serve` processes on free ports, started and stopped (gracefully or with
kill -9), and the factory behind the root conftest's `serve` and `serve_module` fixtures."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["ServerFactory", "WakefulProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WakefulProcess:
    """`wakeful serve APP` as a child process; restartable on the same data directory."""

    app: str
    data_dir: Path
    inactivity_timeout: str = "1s"
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    log_dir: Path | None = None  # where the server's output goes (default: the data dir)
    traces: Path | None = None  # where its handlers leave traces, when its app writes any

    @property
    def traces_dir(self) -> Path:
        """Where its handlers leave traces (set by ServerFactory)."""
        if self.traces is None:
            raise RuntimeError("this server was not made with a traces directory")
        return self.traces

    @property
    def url(self) -> str:
        """Ingress base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """Admin API base URL."""
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 20.0) -> WakefulProcess:
        """Start the server and wait until the ingress answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = (self.log_dir or self.data_dir) / f"server-{time.time_ns()}.log"
        cmd = [
            sys.executable, "-m", "wakeful.cli", "serve", self.app,
            "--data-dir", str(self.data_dir),
            "--port", str(self.port),
            "--admin-port", str(self.admin_port),
            "--inactivity-timeout", self.inactivity_timeout,
            *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"wakeful serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/restate/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"wakeful serve did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


class ServerFactory:
    """Starts `wakeful serve` processes, each in a fresh directory; ends them all at `close`."""

    def __init__(self, make_dir: Callable[[str], Path]) -> None:
        self._make_dir = make_dir
        self._processes: list[WakefulProcess] = []

    def __call__(
        self,
        app: str,
        *,
        traces_env: str | None = None,
        inactivity_timeout: str = "0",
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        start: bool = True,
        name: str = "server",
    ) -> WakefulProcess:
        """A server for `app` (`path.py:attr`), started unless `start=False`; its handlers
        find their traces directory in the environment variable `traces_env`."""
        root = self._make_dir(name)
        traces = root / "traces"
        traces.mkdir(parents=True, exist_ok=True)
        process = WakefulProcess(
            app=app,
            data_dir=root / "data",
            inactivity_timeout=inactivity_timeout,
            extra_args=list(extra_args),
            env={**(env or {}), **({traces_env: str(traces)} if traces_env else {})},
            traces=traces,
        )
        self._processes.append(process)
        if start:
            with warnings.catch_warnings():
                # start() drops its handle on the log file without closing it (the child has
                # its own copy). A caught connection error can keep start()'s frame, and the
                # file with it, alive in a reference cycle: collect it here, where the
                # ResourceWarning is ignored, rather than in some later test, where
                # `filterwarnings = error` fails it.
                warnings.simplefilter("ignore", ResourceWarning)
                process.start()
                gc.collect()
        return process

    def close(self, kill: bool) -> None:
        """Stop every server (SIGTERM), or kill -9 them all (`kill=True`)."""
        for process in self._processes:
            if kill:
                process.kill()
            else:
                process.stop()
