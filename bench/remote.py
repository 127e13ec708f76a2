"""Remote deployments: the same restate-sdk endpoint registered with wakeful and with Restate.

One hypercorn process serves `bench/services.py` with restate-sdk (`BENCH_SDK=restate`); it
answers HTTP/2 cleartext and HTTP/1.1 on the same port, and restate-sdk picks the protocol
mode from the HTTP version of discovery: registered with `use_http_11` it is request/response,
without it bidi. Each server (`wakeful serve` with no application; `restate-server`) registers
it, then runs the awakeable flow (send → the handler hands the awakeable out in `ctx.run` and
waits → resolve → result) at 64 concurrent flows.

    python bench/remote.py [--duration 20] [--modes bidi,request_response] [--json out.jsonl]

Prints flows/s, resolve→result p50/p99 and the CPU milliseconds per flow of the server and of
the endpoint (the machine is shared: CPU per flow moves less with the load than flows/s) per
server and mode, and the ratios
(wakeful / Restate for throughput, Restate / wakeful for p50: ≥ 1.0 means wakeful is at least
as good).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from systems import (  # noqa: E402 - the bench directory is not a package
    RESTATE_VENV,
    Restate,
    _http,
    _kill9,
    _tail,
    _terminate,
    _wait_http_ok,
    ensure_restate,
    free_port,
)
from workloads import awakeable_flows, session_for  # noqa: E402

MODES = {"bidi": False, "request_response": True}  # mode -> use_http_11


@dataclass
class Endpoint:
    """restate-sdk serving bench/services.py under hypercorn."""

    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        env = {**os.environ, "BENCH_SDK": "restate", "BENCH_RUN_LOG": os.devnull}
        env.pop("VIRTUAL_ENV", None)
        with (self.log_dir / "endpoint.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(RESTATE_VENV / "bin" / "hypercorn"), "--bind", f"127.0.0.1:{self.port}",
                 "services:app"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=BENCH,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the endpoint did not start:\n{_tail(self.log_dir / 'endpoint.log')}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        _kill9(self.process)  # restate-sdk replaces the SIGTERM handler


class WakefulServer:
    """`wakeful serve` with no application."""

    name = "wakeful"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.admin_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        script = Path(sys.executable).parent / "wakeful"
        with (self.data_dir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(script), "serve", "--data-dir", str(self.data_dir / "data"),
                 "--port", str(self.port), "--admin-port", str(self.admin_port),
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_http_ok(f"{self.url}/restate/health", time.monotonic() + 60, [self.process])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        _terminate(self.process)


class RestateServer(Restate):
    """restate-server alone (the endpoint is shared)."""

    def start(self) -> None:
        self._spawn_server()
        self.wait_healthy()

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.pid

    def stop(self) -> None:
        _terminate(self.server, timeout=70)


def _register(server: Any, endpoint: Endpoint, use_http_11: bool) -> None:
    body = {"uri": endpoint.uri, "use_http_11": use_http_11, "force": True}
    status, text = _http("POST", f"{server.admin_url}/deployments", body, timeout=30)
    if status not in (200, 201):
        raise RuntimeError(f"{server.name}: registering failed: {status} {text}")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants (hypercorn forks its
    worker)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(_cpu_s(int(child)) for child in children)


async def _measure(url: str, duration: float, pids: dict[str, int]) -> dict[str, Any]:
    """Flows/s and latency; CPU milliseconds per flow of each process in `pids`."""

    class _Target:
        def __init__(self, base: str) -> None:
            self.url = base

    async with session_for() as session:
        await awakeable_flows(session, _Target(url), min(3.0, duration))  # type: ignore[arg-type]  # warm-up
        before = {name: _cpu_s(pid) for name, pid in pids.items()}
        row = await awakeable_flows(session, _Target(url), duration)  # type: ignore[arg-type]  # only .url is read
        flows = max(row["awakeable_flows_per_s"] * duration, 1.0)
        for name, pid in pids.items():
            row[f"{name}_cpu_ms_per_flow"] = round(1000 * (_cpu_s(pid) - before[name]) / flows, 2)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--modes", default="bidi,request_response")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ensure_restate()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wakeful-remote-bench-") as tmp:
        root = Path(tmp)
        endpoint = Endpoint(root)
        endpoint.start()
        try:
            for mode in args.modes.split(","):
                for server in (
                    WakefulServer(root / f"wakeful-{mode}"),
                    RestateServer(data_dir=root / f"restate-{mode}", run_log=root / "runs"),
                ):
                    server.start()
                    try:
                        _register(server, endpoint, MODES[mode])
                        pids = {"server": server.pid, "endpoint": endpoint.pid}
                        row = asyncio.run(_measure(server.url, args.duration, pids))
                    finally:
                        server.stop()
                    row = {k: v for k, v in row.items() if not k.startswith("_")}
                    row.update(system=server.name, mode=mode)
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            endpoint.stop()
    for mode in args.modes.split(","):
        ours = next(r for r in results if r["mode"] == mode and r["system"] == "wakeful")
        theirs = next(r for r in results if r["mode"] == mode and r["system"] == "restate")
        throughput = ours["awakeable_flows_per_s"] / max(theirs["awakeable_flows_per_s"], 1e-9)
        p50 = theirs["awakeable_resolve_to_result_p50_ms"] / max(
            ours["awakeable_resolve_to_result_p50_ms"], 1e-9
        )
        print(
            f"{mode}: wakeful {ours['awakeable_flows_per_s']} flows/s, p50 "
            f"{ours['awakeable_resolve_to_result_p50_ms']} ms; restate "
            f"{theirs['awakeable_flows_per_s']} flows/s, p50 "
            f"{theirs['awakeable_resolve_to_result_p50_ms']} ms; throughput ratio "
            f"{throughput:.2f}, p50 ratio (restate/wakeful) {p50:.2f}; CPU ms per flow: "
            f"server {ours['server_cpu_ms_per_flow']} vs {theirs['server_cpu_ms_per_flow']}, "
            f"endpoint {ours['endpoint_cpu_ms_per_flow']} vs {theirs['endpoint_cpu_ms_per_flow']}"
        )
    if args.json:
        with args.json.open("a") as f:
            for row in results:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
