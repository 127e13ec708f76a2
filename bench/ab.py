"""A/B two versions of wakeful on one workload: flows/s and server CPU per flow.

    .venv/bin/python bench/ab.py HEAD~1                    # a revision vs the working tree
    .venv/bin/python bench/ab.py HEAD~3 --workload echo --rounds 6 --duration 5
    .venv/bin/python bench/ab.py HEAD --workload awakeable --b-env OTEL_TRACES_EXPORTER=otlp \
        --otlp-sink                                         # tracing off (A) vs on (B)

The revision is checked out into a temporary git worktree and served with its `src/` first on
PYTHONPATH; the working tree is served as installed. Runs alternate (A/B, then B/A, ...) on a
fresh data directory each, after a short warm-up, and the medians are printed. Use it to measure
a change before keeping it: on a small machine runs differ by 10% or more, so compare medians
of several rounds, and the CPU per flow as well as the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import workloads  # noqa: E402
from systems import free_port  # noqa: E402

WORKLOADS: dict[str, Callable[..., Any]] = {
    "echo": workloads.echo,
    "awakeable": workloads.awakeable_flows,
    "workflow": workloads.workflow_flows,
}


class _Target:
    """What the workload functions need of a system: its ingress URL."""

    def __init__(self, url: str) -> None:
        self.url = url


@contextmanager
def _worktree(revision: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="wakeful-ab-"))
    tree = folder / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _serve(
    src: Path | None, data: Path, port: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_SDK": "wakeful", "BENCH_RUN_LOG": str(data / "run.log")}
    env.update(extra_env or {})
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [
        sys.executable, "-m", "wakeful.cli", "serve", "services.py:app",
        "--data-dir", str(data / "data"), "--port", str(port),
        "--admin-port", str(free_port()), "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=BENCH, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/restate/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("server did not answer within 30 s")


async def _measure(workload: str, duration: float, port: int, pid: int) -> tuple[float, float]:
    process = psutil.Process(pid)
    target = _Target(f"http://127.0.0.1:{port}")
    run = WORKLOADS[workload]
    async with workloads.session_for() as session:
        await run(session, target, 1.5)  # warm-up
        cpu0 = sum(process.cpu_times()[:2])
        metrics = await run(session, target, duration)
        cpu1 = sum(process.cpu_times()[:2])
    rate = next(v for k, v in metrics.items() if k.endswith("_per_s"))
    return rate, (cpu1 - cpu0) * 1000 / max(1.0, rate * duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="git revision to compare with the working tree")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="workflow")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument(
        "--b-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the working tree's server only (repeatable)",
    )
    parser.add_argument(
        "--otlp-sink",
        action="store_true",
        help="run a local OTLP/HTTP sink (bench/otlp_sink.py) and point OTEL_EXPORTER_OTLP_"
        "ENDPOINT of both servers at it",
    )
    args = parser.parse_args()
    b_env = dict(item.split("=", 1) for item in args.b_env)
    sink = None
    if args.otlp_sink:
        sink_port = free_port()
        sink = subprocess.Popen([sys.executable, str(BENCH / "otlp_sink.py"), str(sink_port)])
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
    try:
        _rounds(args, b_env)
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(10)


def _rounds(args: argparse.Namespace, b_env: dict[str, str]) -> None:
    results: dict[str, list[tuple[float, float]]] = {args.revision: [], "working tree": []}
    with _worktree(args.revision) as tree:
        sources: dict[str, Path | None] = {args.revision: tree / "src", "working tree": None}
        names = list(sources)
        for round_ in range(args.rounds):
            for name in names if round_ % 2 == 0 else reversed(names):
                with tempfile.TemporaryDirectory(prefix="wakeful-ab-data-") as data:
                    port = free_port()
                    extra = b_env if name == "working tree" else None
                    server = _serve(sources[name], Path(data), port, extra)
                    try:
                        rate, cpu = asyncio.run(
                            _measure(args.workload, args.duration, port, server.pid)
                        )
                    finally:
                        server.terminate()
                        server.wait(10)
                results[name].append((rate, cpu))
                print(f"{name:>14}: {rate:8.1f}/s  server CPU {cpu:.3f} ms per flow", flush=True)
    print(f"\n{args.workload}, medians of {args.rounds} runs of {args.duration:g} s:")
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:>14}: {rate:8.1f}/s  server CPU {cpu:.3f} ms per flow")


if __name__ == "__main__":
    main()
