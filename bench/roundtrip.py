"""Awakeable round trip and the cost of waiting invocations, against a real `wakeful serve`.

    .venv/bin/python bench/roundtrip.py [--flows 300] [--waiting 20000]

Prints, for the live path (the handler still in memory, default inactivity timeout) and the
suspended path (inactivity timeout 0: every resolve starts a new attempt that replays):
resolve→result latency p50/p99 (the time from sending the resolve request until the attach
request waiting on the invocation returns the result); then the RSS of the server process
and the disk bytes per waiting invocation with N invocations suspended on an awakeable, and
the resolve→result latency of one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.server import WakefulProcess
from wakeful.journal.ids import AwakeableId, InvocationId

APP = str(Path(__file__).resolve().parent / "services.py") + ":app"  # BENCH_SDK defaults to wakeful


def awakeable_of(invocation_id: str) -> str:
    """The id of an invocation's first awakeable."""
    return str(AwakeableId(InvocationId.parse(invocation_id), 17))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def roundtrips(url: str, flows: int, settle: float) -> list[float]:
    """Sequential flows; returns resolve→result latencies in ms."""
    out: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(flows):
            sent = await client.post("/Bench/awakeable/send")
            iid = sent.json()["invocationId"]
            await asyncio.sleep(settle)  # let the handler reach its await (or suspend)
            attach = asyncio.create_task(client.get(f"/restate/invocation/{iid}/attach"))
            await asyncio.sleep(0.005)
            t0 = time.perf_counter()
            r = await client.post(f"/restate/awakeables/{awakeable_of(iid)}/resolve", json="ok")
            assert r.status_code == 202, r.text
            answer = await attach
            out.append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 200 and answer.json() == "ok", answer.text
    return out


async def start_waiting(url: str, count: int, concurrency: int = 64) -> list[str]:
    """Send `count` awakeable invocations with `concurrency` clients (aiohttp: a fast client)."""
    ids: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                async with session.post("/Bench/awakeable/send") as r:
                    ids.append((await r.json())["invocationId"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--waiting", type=int, default=20000)
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, timeout, settle in (("live", "60s", 0.01), ("suspended", "0", 0.01)):
            server = WakefulProcess(APP, Path(tmp) / label, inactivity_timeout=timeout).start()
            try:
                asyncio.run(roundtrips(server.url, 20, settle))  # warm-up
                lat = asyncio.run(roundtrips(server.url, args.flows, settle))
            finally:
                server.stop()
            results[f"{label}_resolve_to_result_ms"] = {
                "p50": round(statistics.median(lat), 2),
                "p99": round(pct(lat, 0.99), 2),
                "n": len(lat),
            }
        data = Path(tmp) / "waiting"
        server = WakefulProcess(APP, data, inactivity_timeout="0").start()
        try:
            assert server.process is not None
            proc = psutil.Process(server.process.pid)
            rss_idle = proc.memory_info().rss
            t0 = time.perf_counter()
            ids = asyncio.run(start_waiting(server.url, args.waiting))
            elapsed = time.perf_counter() - t0
            time.sleep(2)
            summary = httpx.get(f"{server.admin_url}/invocations?status=suspended&limit=1").json()
            assert summary["invocations"], "nothing suspended"
            rss = proc.memory_info().rss
            disk = dir_bytes(data)
            lat = asyncio.run(roundtrips(server.url, 50, 0.01))
            results["waiting"] = {
                "count": len(ids),
                "start_rate_per_s": round(len(ids) / elapsed),
                "rss_idle_mib": round(rss_idle / 2**20, 1),
                "rss_with_waiting_mib": round(rss / 2**20, 1),
                "rss_per_waiting_bytes": round((rss - rss_idle) / len(ids)),
                "disk_bytes_per_waiting": round(disk / len(ids)),
                "resolve_to_result_ms_among_them_p50": round(statistics.median(lat), 2),
            }
        finally:
            server.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
