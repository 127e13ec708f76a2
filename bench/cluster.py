"""Awakeable flows on one process with SQLite, one with PostgreSQL, three sharing PostgreSQL;
then the failover time after kill -9 of the leader under load.

    .venv/bin/python bench/cluster.py [--duration 15] [--postgres postgresql://postgres@127.0.0.1/postgres]

Each flow (send, resolve, attach) goes through one ingress, the flows round-robin over the
ingresses of the configuration. Every configuration gets an empty database (a fresh schema).
Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import psycopg  # noqa: E402
import workloads  # noqa: E402
from systems import SERVICES, free_port  # noqa: E402

ONLY: str | None = None


class Proc:
    """One `wakeful serve` of the bench services."""

    def __init__(self, root: Path, store: str) -> None:
        self.port, self.admin_port = free_port(), free_port()
        self.log = root / f"server-{self.port}.log"
        script = Path(sys.executable).parent / "wakeful"
        head = [str(script)] if script.exists() else [sys.executable, "-m", "wakeful.cli"]
        env = {**os.environ, "BENCH_SDK": "wakeful", "BENCH_RUN_LOG": str(root / "runs.log")}
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [
                    *head,
                    "serve",
                    f"{SERVICES}:app",
                    "--store",
                    store,
                    "--data-dir",
                    str(root / f"data-{self.port}"),
                    "--port",
                    str(self.port),
                    "--admin-port",
                    str(self.admin_port),
                    "--log-level",
                    "warning",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=BENCH,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/restate/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"not healthy: {self.log.read_text()[-2000:]}")

    def leads(self) -> bool:
        url = f"http://127.0.0.1:{self.admin_port}/cluster"
        with urllib.request.urlopen(url, timeout=5) as r:
            view = json.load(r)
        return any(p["leader"] and p["ingressUrl"] == self.url for p in view["processes"])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(20)


@contextmanager
def schema(server: str) -> Iterator[str]:
    name = f"wakeful_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]  # generated name
    try:
        sep = "&" if "?" in server else "?"
        yield f"{server}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")  # type: ignore[arg-type]  # as above


async def flows(urls: list[str], duration: float) -> dict[str, Any]:
    """Awakeable flows at 64 concurrent, round-robin over `urls`."""
    rotation = itertools.cycle(urls)
    async with workloads.session_for() as session:
        return await workloads._flows(
            "awakeable", duration, lambda: workloads.awakeable_flow(session, next(rotation))
        )


async def failover(procs: list[Proc], duration: float) -> dict[str, Any]:
    """Load through the followers; kill -9 the leader a third of the way in; the time from the
    kill until the first flow started after it completes, and how many flows failed."""
    leader = next(p for p in procs if p.leads())
    followers = [p.url for p in procs if p is not leader]
    rotation = itertools.cycle(followers)
    completed: list[float] = []
    killed_at: list[float] = []

    async def one(session: Any) -> float:
        started = time.monotonic()
        latency = await workloads.awakeable_flow(session, next(rotation))
        if killed_at and started > killed_at[0]:
            completed.append(time.monotonic())
        return latency

    async def kill_later() -> None:
        await asyncio.sleep(duration / 3)
        killed_at.append(time.monotonic())
        leader.stop(signal.SIGKILL)

    async with workloads.session_for() as session:
        killer = asyncio.ensure_future(kill_later())
        lat, errors, _, samples = await workloads._closed_loop(
            duration, workloads.CONCURRENCY, lambda: one(session)
        )
        await killer
    return {
        "failover_s": round(min(completed) - killed_at[0], 2) if completed else None,
        "failover_flows_failed": errors,
        "failover_flows_completed": len(lat),
        "_error_samples": samples,
    }


def run(name: str, stores: list[str], duration: float, root: Path, kill: bool) -> None:
    if ONLY and ONLY not in name:
        return
    procs = [Proc(root, store) for store in stores]
    try:
        for proc in procs:
            proc.wait_healthy()
        time.sleep(1.0)  # the lease is taken
        result = asyncio.run(flows([p.url for p in procs], duration))
        if kill:
            result |= asyncio.run(failover(procs, duration))
        print(json.dumps({"config": name, **result}), flush=True)
    finally:
        for proc in procs:
            proc.stop(signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--only", help="run only the configurations whose name has this")
    args = parser.parse_args()
    global ONLY
    ONLY = args.only
    root = Path(tempfile.mkdtemp(prefix="wakeful-cluster-bench-"))
    try:
        run("1 process, SQLite", [f"sqlite:///{root}/sqlite"], args.duration, root, False)
        with schema(args.postgres) as url:
            run("1 process, PostgreSQL", [url], args.duration, root, False)
        with schema(args.postgres) as url:
            run("3 processes, PostgreSQL", [url] * 3, args.duration, root, True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
