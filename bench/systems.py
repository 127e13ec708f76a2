"""The two systems under test, as child processes on loopback: start, kill -9, restart, measure.

* `Wakeful`: `wakeful serve bench/services.py:app` (SQLite, default settings).
* `Restate`: the `restate-server` binary from the npm package `@restatedev/restate-server`
  (telemetry off, every listener on 127.0.0.1) plus the same services file served by
  hypercorn with restate-sdk (`BENCH_SDK=restate`), registered through the admin API.

Setup (`ensure_restate`) installs the pinned versions into `bench/.restate` (npm, with
`--ignore-scripts`: the package's only install script is an npm-analytics reporter) and
`bench/.venv-restate` (a virtualenv with restate-sdk and hypercorn); both are git-ignored.

`RESTATE_DISABLE_TELEMETRY=true` stops the server's usage report; its startup check for a
newer release (a request to GitHub's API, not governed by that flag) has nowhere to go when
`run.py` runs everything in a loopback-only network namespace.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import psutil

BENCH = Path(__file__).resolve().parent
SERVICES = BENCH / "services.py"

RESTATE_SERVER_VERSION = "1.7.12"  # npm @restatedev/restate-server
RESTATE_SDK_VERSION = "1.3.0"  # PyPI restate-sdk
HYPERCORN_VERSION = "0.18.0"  # PyPI hypercorn

NPM_PREFIX = BENCH / ".restate"
RESTATE_VENV = BENCH / ".venv-restate"

__all__ = [
    "RESTATE_SDK_VERSION",
    "RESTATE_SERVER_VERSION",
    "Restate",
    "System",
    "Wakeful",
    "dir_bytes",
    "ensure_restate",
    "free_port",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dir_bytes(path: Path) -> int:
    """Bytes of all files under `path` (allocated size would hide sparse preallocation)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _http(
    method: str, url: str, body: object | None = None, timeout: float = 2.0
) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _wait_http_ok(url: str, deadline: float, alive: list[subprocess.Popen[bytes]]) -> None:
    while time.monotonic() < deadline:
        for process in alive:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            if _http("GET", url, timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer 200 in time")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- setup of Restate -------------------------------------------------------------------------


def restate_binary() -> Path:
    """The platform binary inside the npm package (the package's `bin` is a node wrapper)."""
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
    return (
        NPM_PREFIX / "node_modules" / "@restatedev" / f"restate-server-{system}-{machine}"
        / "bin" / "restate-server"
    )  # fmt: skip


def _installed_server_version() -> str | None:
    binary = restate_binary()
    if not binary.exists():
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip().rsplit(" ", 1)[-1] if out.returncode == 0 else None


def _installed_sdk_version() -> str | None:
    python = RESTATE_VENV / "bin" / "python"
    if not python.exists():
        return None
    code = "import importlib.metadata as m;print(m.version('restate-sdk'), m.version('hypercorn'))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_restate(say: Callable[[str], None] = print) -> str | None:
    """Install the pinned Restate server and SDK if missing; None, or why Restate is unavailable."""
    if _installed_server_version() != RESTATE_SERVER_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            return "npm not found (needed to install @restatedev/restate-server)"
        say(f"installing @restatedev/restate-server@{RESTATE_SERVER_VERSION} into bench/.restate")
        NPM_PREFIX.mkdir(exist_ok=True)
        out = subprocess.run(
            [npm, "install", "--prefix", str(NPM_PREFIX), "--ignore-scripts", "--no-audit",
             "--no-fund", f"@restatedev/restate-server@{RESTATE_SERVER_VERSION}"],
            capture_output=True, text=True, env={**os.environ, "SCARF_ANALYTICS": "false"},
        )  # fmt: skip
        if out.returncode != 0:
            return f"npm install failed: {out.stderr.strip()[-500:]}"
        found = _installed_server_version()
        if found != RESTATE_SERVER_VERSION:
            return f"restate-server binary at {restate_binary().name} does not run (got {found!r})"
    wanted = f"{RESTATE_SDK_VERSION} {HYPERCORN_VERSION}"
    if _installed_sdk_version() != wanted:
        say(f"creating bench/.venv-restate with restate-sdk=={RESTATE_SDK_VERSION}, "
            f"hypercorn=={HYPERCORN_VERSION}")  # fmt: skip
        if not (RESTATE_VENV / "bin" / "python").exists():
            out = subprocess.run(
                [sys.executable, "-m", "venv", str(RESTATE_VENV)], capture_output=True, text=True
            )
            if out.returncode != 0:
                return f"creating the restate-sdk virtualenv failed: {out.stderr.strip()[-500:]}"
        out = subprocess.run(
            [str(RESTATE_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", f"restate-sdk=={RESTATE_SDK_VERSION}",
             f"hypercorn=={HYPERCORN_VERSION}"],
            capture_output=True, text=True,
        )  # fmt: skip
        if out.returncode != 0:
            return f"pip install restate-sdk failed: {out.stderr.strip()[-500:]}"
        if _installed_sdk_version() != wanted:
            return "restate-sdk does not import in bench/.venv-restate"
    return None


# --- the systems ------------------------------------------------------------------------------


@dataclass
class System:
    """A server under test: its ingress URL, its processes, its data."""

    name: ClassVar[str] = ""
    data_dir: Path
    run_log: Path
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def kill9(self) -> None:
        """kill -9 the server (the process that owns the durable state)."""
        raise NotImplementedError

    def restart_server(self) -> None:
        """Start the server again after `kill9`, on the same data; returns at once."""
        raise NotImplementedError

    def wait_healthy(self, timeout: float = 60.0) -> None:
        raise NotImplementedError

    def processes(self) -> dict[str, list[psutil.Process]]:
        """Role → the processes (with their children) whose memory counts."""
        raise NotImplementedError

    def rss(self) -> dict[str, int]:
        """Role → resident bytes of that role's process tree."""
        out: dict[str, int] = {}
        for role, procs in self.processes().items():
            total = 0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            out[role] = total
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """Role → user + system CPU seconds of that role's process tree so far."""
        out: dict[str, float] = {}
        for role, procs in self.processes().items():
            total = 0.0
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.Error:
                    pass
            out[role] = total
        return out

    def disk_bytes(self) -> int:
        return dir_bytes(self.data_dir)

    def describe(self) -> str:
        raise NotImplementedError


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _kill9(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def _byte_compile_wakeful() -> None:
    """Write the bytecode of the wakeful package and the services, as `pip install` does.

    An editable install in a development checkout may have none (PYTHONDONTWRITEBYTECODE, or
    stale files after edits); every start would then compile the sources again, which a
    restart measurement would count.
    """
    import wakeful

    compileall.compile_dir(Path(wakeful.__file__).parent, quiet=1)
    compileall.compile_file(SERVICES, quiet=1)


@dataclass
class Wakeful(System):
    """`wakeful serve bench/services.py:app` with default settings."""

    name: ClassVar[str] = "wakeful"
    server: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        script = Path(sys.executable).parent / "wakeful"
        head = [str(script)] if script.exists() else [sys.executable, "-m", "wakeful.cli"]
        return [
            *head, "serve", f"{SERVICES}:app",
            "--data-dir", str(self.data_dir / "data"),
            "--port", str(self.port), "--admin-port", str(self.admin_port),
            "--log-level", "warning",
        ]  # fmt: skip

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BENCH_SDK": "wakeful", "BENCH_RUN_LOG": str(self.run_log)}
        with (self.data_dir / "server.log").open("ab") as log:
            self.server = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=BENCH
            )

    def start(self) -> None:
        _byte_compile_wakeful()
        self._spawn()
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        assert self.server is not None
        try:
            _wait_http_ok(f"{self.url}/restate/health", time.monotonic() + timeout, [self.server])
        except RuntimeError as e:
            raise RuntimeError(f"wakeful: {e}\n{_tail(self.data_dir / 'server.log')}") from None

    def stop(self) -> None:
        _terminate(self.server)
        self.server = None

    def kill9(self) -> None:
        _kill9(self.server)
        self.server = None

    def restart_server(self) -> None:
        self._spawn()

    def processes(self) -> dict[str, list[psutil.Process]]:
        return {"server": _tree(self.server.pid if self.server else None)}

    def disk_bytes(self) -> int:
        return dir_bytes(self.data_dir / "data")

    def describe(self) -> str:
        return "wakeful serve (SQLite, default settings)"


@dataclass
class Restate(System):
    """restate-server (default settings, telemetry off, loopback) + restate-sdk on hypercorn."""

    name: ClassVar[str] = "restate"
    node_port: int = field(default_factory=free_port)
    sdk_port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    sdk: subprocess.Popen[bytes] | None = None

    def _server_env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")
        }  # no stray configuration from the environment
        env.update(
            RESTATE_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="1",
            RESTATE_NODE_NAME="bench",
            RESTATE_LISTEN_MODE="tcp",
            RESTATE_BIND_ADDRESS=f"127.0.0.1:{self.node_port}",
            RESTATE_ADVERTISED_ADDRESS=f"http://127.0.0.1:{self.node_port}/",
            RESTATE_INGRESS__BIND_ADDRESS=f"127.0.0.1:{self.port}",
            RESTATE_ADMIN__BIND_ADDRESS=f"127.0.0.1:{self.admin_port}",
            RESTATE_LOG_DISABLE_ANSI_CODES="true",
        )
        return env

    def _spawn_server(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "server.log").open("ab") as log:
            self.server = subprocess.Popen(
                [str(restate_binary()), "--no-logo", "--base-dir", str(self.data_dir / "data")],
                stdout=log, stderr=subprocess.STDOUT, env=self._server_env(), cwd=self.data_dir,
            )  # fmt: skip

    def _spawn_sdk(self) -> None:
        env = {**os.environ, "BENCH_SDK": "restate", "BENCH_RUN_LOG": str(self.run_log)}
        env.pop("VIRTUAL_ENV", None)
        with (self.data_dir / "sdk.log").open("ab") as log:
            self.sdk = subprocess.Popen(
                [str(RESTATE_VENV / "bin" / "hypercorn"), "--bind", f"127.0.0.1:{self.sdk_port}",
                 "services:app"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=BENCH,
            )  # fmt: skip

    def _wait_sdk(self, deadline: float) -> None:
        assert self.sdk is not None
        while time.monotonic() < deadline:
            if self.sdk.poll() is not None:
                raise RuntimeError(f"hypercorn exited:\n{_tail(self.data_dir / 'sdk.log')}")
            try:
                with socket.create_connection(("127.0.0.1", self.sdk_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hypercorn did not listen in time")

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn_sdk()
        self._spawn_server()
        deadline = time.monotonic() + 90
        self._wait_sdk(deadline)
        self.wait_healthy()
        status, body = _http(
            "POST", f"{self.admin_url}/deployments", {"uri": f"http://127.0.0.1:{self.sdk_port}"},
            timeout=30,
        )  # fmt: skip
        if status not in (200, 201):
            raise RuntimeError(f"registering the deployment failed: {status} {body}")

    def wait_healthy(self, timeout: float = 90.0) -> None:
        assert self.server is not None
        deadline = time.monotonic() + timeout
        try:
            _wait_http_ok(f"{self.admin_url}/health", deadline, [self.server])
            _wait_http_ok(f"{self.url}/restate/health", deadline, [self.server])
        except RuntimeError as e:
            raise RuntimeError(f"restate: {e}\n{_tail(self.data_dir / 'server.log')}") from None

    def stop(self) -> None:
        _terminate(self.server, timeout=70)
        _terminate(self.sdk)
        self.server = None
        self.sdk = None

    def kill9(self) -> None:
        _kill9(self.server)  # the SDK process (the handlers' host) stays up
        self.server = None

    def restart_server(self) -> None:
        self._spawn_server()

    def processes(self) -> dict[str, list[psutil.Process]]:
        return {
            "server": _tree(self.server.pid if self.server else None),
            "sdk": _tree(self.sdk.pid if self.sdk else None),
        }

    def disk_bytes(self) -> int:
        return dir_bytes(self.data_dir / "data")

    def query(self, sql: str, timeout: float = 60) -> list[dict[str, object]]:
        """Restate's SQL introspection (admin `/query`)."""
        request = urllib.request.Request(
            f"{self.admin_url}/query",
            data=json.dumps({"query": sql}).encode(),
            method="POST",
            headers={"content-type": "application/json", "accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            rows: list[dict[str, object]] = json.loads(response.read())["rows"]
            return rows

    def describe(self) -> str:
        return (
            f"restate-server {RESTATE_SERVER_VERSION} (default settings, telemetry off) + "
            f"restate-sdk {RESTATE_SDK_VERSION} on hypercorn {HYPERCORN_VERSION}"
        )
