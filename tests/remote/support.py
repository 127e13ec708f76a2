"""A restate-sdk endpoint process for the remote tests, and small helpers to drive flows."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.support.server import free_port

__all__ = ["Endpoint", "awakeable_of", "register", "runs", "ts_program", "wait_for"]

ENDPOINT = Path(__file__).with_name("endpoint.py")
TS_DIR = Path(__file__).with_name("ts")
ROOT = Path(__file__).parents[2]


def ts_program() -> list[str]:
    """The TypeScript endpoint's command line; installs Node 22 and the SDK first if needed."""
    subprocess.run([str(ROOT / "scripts" / "install-ts-endpoint")], check=True)
    return [str(TS_DIR / "node_modules" / ".bin" / "node"), str(TS_DIR / "endpoint.mjs")]


@dataclass
class Endpoint:
    """`endpoint.py PORT MODE` (or another program taking the same arguments) as a child
    process (MODE `h2c` or `http1`)."""

    mode: str
    runs_file: Path
    program: list[str] = field(default_factory=lambda: [sys.executable, str(ENDPOINT)])
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """Where to register it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def use_http_11(self) -> bool:
        """True for the request/response endpoint."""
        return self.mode == "http1"

    def start(self) -> Endpoint:
        """Start it and wait until it answers discovery."""
        with self.runs_file.with_suffix(f".{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*self.program, str(self.port), self.mode],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"RUNS_FILE": str(self.runs_file), "PATH": "/usr/bin:/bin"},
            )
        http2 = not self.use_http_11
        with httpx.Client(http1=not http2, http2=http2) as client:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    client.get(f"{self.uri}/discover", timeout=1)
                    return self
                except httpx.HTTPError:
                    time.sleep(0.05)
        raise RuntimeError("the endpoint did not start")

    def kill(self) -> None:
        """kill -9 (restate-sdk replaces the SIGTERM handler, so that is the way to stop it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


def register(admin_url: str, endpoint: Endpoint, force: bool = False) -> httpx.Response:
    """POST /deployments for the endpoint."""
    body = {"uri": endpoint.uri, "use_http_11": endpoint.use_http_11, "force": force}
    return httpx.post(f"{admin_url}/deployments", json=body, timeout=30)


def runs(endpoint: Endpoint) -> list[str]:
    """The lines the endpoint's ctx.run bodies wrote, in order."""
    path = endpoint.runs_file
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    """Poll `predicate()` until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]  # any callable
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def awakeable_of(endpoint: Endpoint, prefix: str, timeout: float = 20.0) -> str:
    """The awakeable id the endpoint published in a run line starting with `prefix`."""
    found: list[str] = []

    def published() -> bool:
        found[:] = [line.split()[-1] for line in runs(endpoint) if line.startswith(prefix + " ")]
        return bool(found)

    wait_for(published, timeout)
    return found[-1]
