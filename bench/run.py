"""wakeful side by side with Restate: one command, same services, same load generator.

    .venv/bin/python bench/run.py            # full run (~30 min)
    .venv/bin/python bench/run.py --quick    # smaller counts (< 5 min), for development

Sets up the pinned Restate server (npm) and Python SDK (a virtualenv under bench/), then —
inside a private network namespace that has only a loopback interface, when run as root —
starts wakeful and Restate, and drives both over the HTTP ingress API with one aiohttp client:

1. echo calls at 64 concurrent clients: calls/s, p50/p99 latency;
2. awakeable flows at 64 concurrent: send, the handler hands the awakeable out in ctx.run and
   waits, the client resolves it and attaches: flows/s, resolve→result p50/p99;
3. workflow promise flows at 64 concurrent: run awaits a promise, a shared handler resolves it;
4. N waiting invocations: start rate, RSS of every process, disk bytes per waiting
   invocation, waking one of them vs one of ten, kill -9 + restart with them pending, time to
   resolve and collect all;
5. kill -9 with M invocations pending after a ctx.run: time to the first accepted request,
   all results present, every ctx.run body executed once.

Workloads 1-3 alternate wakeful/Restate for several rounds (A/B/A/B); 4 and 5 run once per
system on fresh data. Prints medians and min-max per metric with the ratio wakeful/Restate,
and writes bench/results/<timestamp>.jsonl and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import aiohttp  # noqa: E402
import workloads  # noqa: E402
from systems import (  # noqa: E402
    HYPERCORN_VERSION,
    RESTATE_SDK_VERSION,
    RESTATE_SERVER_VERSION,
    Restate,
    System,
    Wakeful,
    ensure_restate,
)

RESULTS = BENCH / "results"
WORKLOADS = ("echo", "awakeable", "workflow", "waiting", "crash")
NETNS_ENV = "WAKEFUL_BENCH_IN_NETNS"
UNAVAILABLE_ENV = "WAKEFUL_BENCH_RESTATE_UNAVAILABLE"

# metric → (label, unit, better: "higher" | "lower" | "" for counts and context)
METRICS: dict[str, tuple[str, str, str]] = {
    "echo_calls_per_s": ("1 echo: calls/s (64 clients)", "1/s", "higher"),
    "echo_p50_ms": ("1 echo: latency p50", "ms", "lower"),
    "echo_p99_ms": ("1 echo: latency p99", "ms", "lower"),
    "echo_errors": ("1 echo: errors", "", ""),
    "awakeable_flows_per_s": ("2 awakeable: flows/s (64 clients)", "1/s", "higher"),
    "awakeable_resolve_to_result_p50_ms": ("2 awakeable: resolve→result p50", "ms", "lower"),
    "awakeable_resolve_to_result_p99_ms": ("2 awakeable: resolve→result p99", "ms", "lower"),
    "awakeable_errors": ("2 awakeable: errors", "", ""),
    "workflow_flows_per_s": ("3 workflow promise: flows/s (64 clients)", "1/s", "higher"),
    "workflow_resolve_to_result_p50_ms": ("3 workflow: resolve→result p50", "ms", "lower"),
    "workflow_resolve_to_result_p99_ms": ("3 workflow: resolve→result p99", "ms", "lower"),
    "workflow_errors": ("3 workflow: errors", "", ""),
    "waiting_count": ("4 waiting: invocations", "", ""),
    "waiting_start_per_s": ("4 waiting: sends accepted/s", "1/s", "higher"),
    "waiting_start_errors": ("4 waiting: send errors", "", ""),
    "waiting_settle_s": ("4 waiting: last send → all waiting, step durable", "s", "lower"),
    "waiting_ready_per_s": ("4 waiting: start rate (sent and waiting)/s", "1/s", "higher"),
    "waiting_rss_server_idle_mib": ("4 waiting: RSS server, idle", "MiB", "lower"),
    "waiting_rss_sdk_idle_mib": ("4 waiting: RSS SDK process, idle", "MiB", "lower"),
    "waiting_rss_server_mib": ("4 waiting: RSS server, N waiting", "MiB", "lower"),
    "waiting_rss_sdk_mib": ("4 waiting: RSS SDK process, N waiting", "MiB", "lower"),
    "waiting_rss_total_mib": ("4 waiting: RSS all processes, N waiting", "MiB", "lower"),
    "waiting_rss_per_waiting_bytes": ("4 waiting: RSS bytes per waiting", "B", "lower"),
    "waiting_rss_server_peak_mib": ("4 waiting: RSS server, peak", "MiB", "lower"),
    "waiting_rss_sdk_peak_mib": ("4 waiting: RSS SDK process, peak", "MiB", "lower"),
    "waiting_rss_peak_total_mib": ("4 waiting: RSS peak, summed over processes", "MiB", "lower"),
    "waiting_disk_mib": ("4 waiting: disk, N waiting", "MiB", "lower"),
    "waiting_disk_bytes_per_waiting": ("4 waiting: disk bytes per waiting", "B", "lower"),
    "wake_one_of_10_p50_ms": ("4 waiting: wake one of 10, resolve→result p50", "ms", "lower"),
    "wake_one_of_n_p50_ms": ("4 waiting: wake one of N, resolve→result p50", "ms", "lower"),
    "wake_one_of_n_max_ms": ("4 waiting: wake one of N, resolve→result max", "ms", "lower"),
    "waiting_restart_first_accept_s": (
        "4 waiting: kill -9, restart → first accepted request", "s", "lower"),
    "waiting_rss_server_after_restart_mib": ("4 waiting: RSS server after restart", "MiB", "lower"),
    "waiting_resolve_all_s": ("4 waiting: resolve all", "s", "lower"),
    "waiting_resolve_and_collect_all_s": ("4 waiting: resolve + collect all", "s", "lower"),
    "waiting_results_ok": ("4 waiting: results present", "", ""),
    "waiting_results_missing": ("4 waiting: results missing", "", ""),
    "waiting_resolve_errors": ("4 waiting: resolve errors", "", ""),
    "crash_pending": ("5 kill -9: pending invocations", "", ""),
    "crash_send_errors": ("5 kill -9: send errors", "", ""),
    "crash_restart_first_accept_s": ("5 kill -9: restart → first accepted request", "s", "lower"),
    "crash_resolve_and_collect_all_s": ("5 kill -9: resolve + collect all", "s", "lower"),
    "crash_results_ok": ("5 kill -9: results present", "", ""),
    "crash_results_missing": ("5 kill -9: results missing", "", ""),
    "crash_steps_run_more_than_once": ("5 kill -9: ctx.run bodies run > once", "", ""),
    "crash_steps_never_run": ("5 kill -9: ctx.run bodies never run", "", ""),
}  # fmt: skip


def _with_cpu(metrics: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, str, str]]:
    """Insert the CPU use of every process after each of workloads 1-3's rows."""
    out: dict[str, tuple[str, str, str]] = {}
    for name, spec in metrics.items():
        out[name] = spec
        for n, w in (("1", "echo"), ("2", "awakeable"), ("3", "workflow")):
            if name == f"{w}_errors":
                roles = (("client", "load generator"), ("server", "server"),
                         ("sdk", "SDK process"), ("other", "other processes"))  # fmt: skip
                for role, text in roles:
                    out[f"{w}_cpu_{role}_pct"] = (f"{n} {w}: CPU {text}", "% of a core", "")
    return out


METRICS = _with_cpu(METRICS)


def label_of(name: str) -> tuple[str, str, str]:
    """(label, unit, better) of a metric; `million_*` are workload 4 with 1,000,000 (wakeful)."""
    if name.startswith("million_") and name[8:] in METRICS:
        label, unit, better = METRICS[name[8:]]
        return label.replace("4 waiting:", "4 waiting, --million (wakeful only):", 1), unit, better
    return METRICS.get(name, (name, "", ""))


@dataclass
class Report:
    """Every measurement, appended to the JSON-lines file as it is taken."""

    path: Path
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def add(self, workload: str, system: str, run: int, metrics: dict[str, Any]) -> None:
        extra = {k[1:]: v for k, v in metrics.items() if k.startswith("_")}
        for name, value in metrics.items():
            if name.startswith("_"):
                continue
            self.values.setdefault(name, {}).setdefault(system, []).append(float(value))
            label, unit, _ = label_of(name)
            self.write({
                "kind": "measurement", "workload": workload, "system": system, "run": run,
                "metric": name, "label": label, "value": value, "unit": unit,
            })  # fmt: skip
        if extra:
            self.write({"kind": "detail", "workload": workload, "system": system, "run": run,
                        **extra})  # fmt: skip


def fmt(value: float) -> str:
    if value != value:  # nan
        return "nan"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def cell(values: list[float] | None) -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


def table(report: Report) -> list[list[str]]:
    rows = [["metric", "unit", "wakeful median (min-max)", "Restate median (min-max)",
             "wakeful/Restate"]]  # fmt: skip
    million = [f"million_{m}" for m in METRICS]
    for name in [*METRICS, *million, *sorted(set(report.values) - set(METRICS) - set(million))]:
        per = report.values.get(name)
        if not per:
            continue
        label, unit, better = label_of(name)
        w, r = per.get("wakeful"), per.get("restate")
        ratio = "—"
        if w and r and better and statistics.median(r) != 0:
            x = statistics.median(w) / statistics.median(r)
            ratio = f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"
        rows.append([label, unit, cell(w), cell(r), ratio])
    return rows


def targets(report: Report, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """The issue's targets: (target, measured, verdict)."""

    def med(metric: str, system: str) -> float | None:
        values = report.values.get(metric, {}).get(system)
        return statistics.median(values) if values else None

    def ratio(metric: str) -> float | None:
        w, r = med(metric, "wakeful"), med(metric, "restate")
        return None if w is None or r is None or r == 0 else w / r

    out: list[tuple[str, str, str]] = []
    for metric, text, goal, higher in (
        ("awakeable_flows_per_s", "awakeable flows/s ≥ 3x Restate's", 3.0, True),
        ("awakeable_resolve_to_result_p50_ms", "resolve→result p50 ≤ ½ of Restate's", 0.5, False),
        ("workflow_flows_per_s", "workflow promise flows/s ≥ 3x Restate's", 3.0, True),
    ):
        x = ratio(metric)
        if x is None:
            out.append((text, "not measured (needs both systems)", "—"))
        else:
            ok = x >= goal if higher else x <= goal
            out.append((text, f"{x:.2f}x", "met" if ok else "not met"))
    n = med("waiting_count", "wakeful")
    restart = med("waiting_restart_first_accept_s", "wakeful")
    if restart is not None and n is not None:
        verdict = ("met" if restart < 0.3 else "not met") if n >= 100_000 else f"(only {n:,.0f})"
        out.append(("restart with 100,000 pending: first accepted request < 0.3 s",
                    f"{restart:.3f} s with {n:,.0f} pending", verdict))  # fmt: skip
    million = report.values.get("million_waiting_rss_server_mib", {}).get("wakeful")
    if million:
        cnt = med("million_waiting_count", "wakeful") or 0
        verdict = (
            ("met" if million[0] < 300 else "not met") if cnt >= 1_000_000 else f"(only {cnt:,.0f})"
        )
        out.append(("1,000,000 waiting awakeables in one process < 300 MiB RSS",
                    f"{million[0]:.0f} MiB with {cnt:,.0f}", verdict))  # fmt: skip
        one_n = med("million_wake_one_of_n_p50_ms", "wakeful")
        one_10 = med("million_wake_one_of_10_p50_ms", "wakeful")
        if one_n is not None and one_10:
            out.append(
                (
                    "waking one of them costs the same as waking one of ten (within 1.5x)",
                    f"{one_n:.1f} ms vs {one_10:.1f} ms ({one_n / one_10:.2f}x)",
                    "met" if one_n <= 1.5 * one_10 else "not met",
                )
            )
    else:
        one_n = med("wake_one_of_n_p50_ms", "wakeful")
        one_10 = med("wake_one_of_10_p50_ms", "wakeful")
        if one_n is not None and one_10:
            out.append(
                (
                    f"waking one of N ({n:,.0f}) costs the same as one of ten (within 1.5x)",
                    f"{one_n:.1f} ms vs {one_10:.1f} ms ({one_n / one_10:.2f}x)",
                    "met" if one_n <= 1.5 * one_10 else "not met",
                )
            )
        out.append(("1,000,000 waiting awakeables < 300 MiB RSS", "not run (add --million)", "—"))
    return out


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                               for i, c in enumerate(r)))  # fmt: skip
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 3) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


# --- orchestration ----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, report: Report, restate_ok: bool) -> None:
        self.args = args
        self.report = report
        self.restate_ok = restate_ok
        self.tmp = Path(tempfile.mkdtemp(prefix="wakeful-bench-"))

    def make(self, kind: str, label: str) -> System:
        root = self.tmp / f"{kind}-{label}"
        cls = Wakeful if kind == "wakeful" else Restate
        return cls(data_dir=root, run_log=root / "runs.log")

    def kinds(self) -> list[str]:
        kinds = ["wakeful", "restate"] if self.restate_ok else ["wakeful"]
        if self.args.only:
            kinds = [k for k in kinds if k == self.args.only]
        return kinds

    async def run(self) -> None:
        try:
            await self.flows()
            await self.fresh("waiting", self.waiting_one)
            await self.fresh("crash", self.crash_one)
            if self.args.million:
                await self.million()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def flows(self) -> None:
        """Workloads 1-3 on one instance of each system, A/B/A/B."""
        chosen = [w for w in ("echo", "awakeable", "workflow") if w in self.args.workloads]
        if not chosen:
            return
        fns: dict[str, Callable[..., Any]] = {
            "echo": workloads.echo,
            "awakeable": workloads.awakeable_flows,
            "workflow": workloads.workflow_flows,
        }
        systems: list[System] = []
        try:
            for kind in self.kinds():
                system = self.make(kind, "flows")
                log(f"starting {system.describe()}")
                t0 = time.perf_counter()
                await asyncio.to_thread(system.start)
                log(f"  up in {time.perf_counter() - t0:.1f}s: ingress {system.url}")
                systems.append(system)
            async with workloads.session_for() as session:
                for name in chosen:
                    for system in systems:  # warm-up, not recorded
                        await fns[name](session, system, self.args.warmup)
                    for run in range(self.args.rounds):
                        for system in systems:
                            metrics = await self.measured(fns[name], session, system)
                            self.report.add(name, system.name, run, metrics)
                            shown = {k: v for k, v in metrics.items() if not k.startswith("_")}
                            log(f"{name} round {run + 1} {system.name}: {shown}")
        finally:
            for system in systems:
                await asyncio.to_thread(system.stop)

    async def measured(
        self, fn: Callable[..., Any], session: aiohttp.ClientSession, system: System
    ) -> dict[str, Any]:
        """One run of a workload 1-3, with the CPU every process used meanwhile."""
        cpu0, own0 = system.cpu_seconds(), time.process_time()
        all0, t0 = machine_cpu_seconds(), time.perf_counter()
        metrics: dict[str, Any] = await fn(session, system, self.args.duration)
        cpu1, own1 = system.cpu_seconds(), time.process_time()
        wall, all1 = time.perf_counter() - t0, machine_cpu_seconds()
        name = fn.__name__.split("_")[0]
        ours = own1 - own0
        metrics[f"{name}_cpu_client_pct"] = round(100 * ours / wall)
        for role, seconds in cpu1.items():
            used = seconds - cpu0.get(role, 0.0)
            ours += used
            metrics[f"{name}_cpu_{role}_pct"] = round(100 * used / wall)
        other = max(0.0, all1 - all0 - ours)  # anything else running on the machine: noise
        metrics[f"{name}_cpu_other_pct"] = round(100 * other / wall)
        return metrics

    async def fresh(self, name: str, body: Callable[..., Any]) -> None:
        if name not in self.args.workloads:
            return
        for kind in self.kinds():
            system = self.make(kind, name)
            log(f"{name}: starting a fresh {system.describe()}")
            await asyncio.to_thread(system.start)
            try:
                async with workloads.session_for() as session:
                    metrics = await body(session, system)
                self.report.add(name, system.name, 0, metrics)
                shown = {k: v for k, v in metrics.items() if not k.startswith("_")}
                log(f"{name} {system.name}: {shown}")
            except Exception as e:
                self.report.notes.append(f"{name} on {system.name} failed: {e!r}")
                log(f"{name} on {system.name} FAILED: {e!r}")
                traceback.print_exc()
            finally:
                await asyncio.to_thread(system.stop)

    async def waiting_one(self, session: aiohttp.ClientSession, system: System) -> dict[str, Any]:
        return await workloads.waiting(session, system, self.args.waiting, log)

    async def crash_one(self, session: aiohttp.ClientSession, system: System) -> dict[str, Any]:
        return await workloads.crash_restart(session, system, self.args.pending, log)

    async def million(self) -> None:
        """wakeful only: 1,000,000 waiting awakeables in one process (RSS, wake cost)."""
        system = self.make("wakeful", "million")
        log("million: starting a fresh wakeful")
        await asyncio.to_thread(system.start)
        try:
            async with workloads.session_for() as session:
                metrics = await workloads.waiting(
                    session, system, self.args.million, log, collect=False
                )
            renamed = {f"million_{k}" if not k.startswith("_") else k: v
                       for k, v in metrics.items()}  # fmt: skip
            self.report.add("million", "wakeful", 0, renamed)
            log(f"million wakeful: {renamed}")
        finally:
            await asyncio.to_thread(system.stop)


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine spent outside idle and iowait so far."""
    import psutil

    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def machine_facts() -> list[str]:
    import psutil

    return [
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
    ]


def wakeful_version() -> str:
    try:
        from importlib.metadata import version

        v = version("wakeful")
    except Exception:
        v = "?"
    try:
        git = ["git", "-C", str(BENCH)]
        sha = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "../src"],
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
    except OSError:
        sha, dirty = "", ""
    return f"wakeful {v}" + (f" (git {sha}{', src modified' if dirty else ''})" if sha else "")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small counts, short runs (< 5 min)")
    p.add_argument("--rounds", type=int, help="A/B rounds of workloads 1-3 (default 3, quick 2)")
    p.add_argument("--duration", type=float, help="seconds per run of 1-3 (default 10, quick 3)")
    p.add_argument(
        "--warmup", type=float, help="unrecorded seconds before 1-3 (default 2, quick 1)"
    )
    p.add_argument("--waiting", type=int, help="workload 4 count (default 100000, quick 5000)")
    p.add_argument("--pending", type=int, help="workload 5 count (default 10000, quick 1000)")
    p.add_argument(
        "--million",
        type=int,
        nargs="?",
        const=1_000_000,
        default=0,
        help="also: wakeful only, this many waiting (default 1000000); RSS and wake cost",
    )
    p.add_argument("--only", choices=["wakeful", "restate"], help="run one system only")
    p.add_argument(
        "--workloads",
        default="echo,awakeable,workflow,waiting,crash",
        help="comma-separated subset of echo,awakeable,workflow,waiting,crash (or none)",
    )
    p.add_argument(
        "--no-netns",
        action="store_true",
        help="do not run inside a private loopback-only network namespace",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = p.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 3)
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    args.waiting = args.waiting or (5_000 if quick else 100_000)
    args.pending = args.pending or (1_000 if quick else 10_000)
    names = {w.strip() for w in args.workloads.split(",") if w.strip()} - {"none"}
    unknown = names - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workloads {sorted(unknown)}: choose from {', '.join(WORKLOADS)}, none")
    args.workloads = names
    return args


def enter_netns(argv: list[str]) -> None:
    """Re-run this command in a new network namespace with only `lo` (root + util-linux)."""
    if os.environ.get(NETNS_ENV):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return
    os.environ[NETNS_ENV] = "1"
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable, str(Path(__file__)), *argv])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    in_netns = bool(os.environ.get(NETNS_ENV))
    if not in_netns:
        unavailable = None
        if args.only != "wakeful":
            log("setting up Restate (pinned versions; installed once)")
            unavailable = ensure_restate(log)
        os.environ[UNAVAILABLE_ENV] = unavailable or ""
        if not args.no_netns:
            enter_netns(argv)  # does not return when it can re-run inside a namespace
    else:
        enter_netns(argv)
    unavailable = os.environ.get(UNAVAILABLE_ENV) or None
    if args.only == "wakeful":
        unavailable = unavailable or "not run (--only wakeful)"
    netns = bool(os.environ.get(NETNS_ENV))

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = Report(args.out / f"{stamp}.jsonl")
    versions = {
        "wakeful": wakeful_version(),
        "restate_server": RESTATE_SERVER_VERSION,
        "restate_sdk": RESTATE_SDK_VERSION,
        "hypercorn": HYPERCORN_VERSION,
    }
    settings = {k: (sorted(v) if isinstance(v, set) else shown_path(v) if isinstance(v, Path)
                    else v) for k, v in vars(args).items()}  # fmt: skip
    report.write({"kind": "run", "started": stamp, "versions": versions, "settings": settings,
                  "machine": machine_facts(), "restate_unavailable": unavailable,
                  "network_namespace": netns})  # fmt: skip
    if unavailable:
        log(f"Restate unavailable: {unavailable}")
    log(f"network: {'private namespace, loopback only' if netns else 'host (loopback addresses)'}")

    bench = Bench(args, report, restate_ok=unavailable is None)
    t0 = time.perf_counter()
    try:
        import uvloop

        uvloop.run(bench.run())
    except ImportError:
        asyncio.run(bench.run())
    elapsed = time.perf_counter() - t0

    busy = [v for k, per in report.values.items() if k.endswith("_cpu_other_pct")
            for vs in per.values() for v in vs]  # fmt: skip
    if busy and statistics.median(busy) > 20:
        report.notes.append(
            f"other processes on this machine used {statistics.median(busy):.0f}% of a core "
            f"(median; max {max(busy):.0f}%) during workloads 1-3: absolute numbers are low"
        )
    rows = table(report)
    goals = targets(report, args)
    text = render_text(rows)
    print()
    print(text)
    print()
    for goal, measured, verdict in goals:
        print(f"target: {goal}: {measured} {verdict}")
    if unavailable:
        print(f"Restate unavailable: {unavailable}")
    for note in report.notes:
        print(f"note: {note}")

    md_path = write_markdown(report, args, versions, unavailable, netns, elapsed, rows, goals)
    report.write({"kind": "summary", "elapsed_s": round(elapsed, 1),
                  "targets": [{"target": g, "measured": m, "verdict": v} for g, m, v in goals],
                  "notes": report.notes})  # fmt: skip
    print(f"\nresults: {shown_path(report.path)}\nsummary: {shown_path(md_path)}")


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is under it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def write_markdown(
    report: Report, args: argparse.Namespace, versions: dict[str, str], unavailable: str | None,
    netns: bool, elapsed: float, rows: list[list[str]], goals: list[tuple[str, str, str]],
) -> Path:  # fmt: skip
    if unavailable:
        restate = f"- **Restate unavailable: {unavailable}**"
    else:
        restate = (
            f"- Restate: restate-server {RESTATE_SERVER_VERSION} (npm `@restatedev/restate-server`,"
            f" default settings, telemetry off, loopback) + restate-sdk {RESTATE_SDK_VERSION} on "
            f"hypercorn {HYPERCORN_VERSION}, same `bench/services.py` (`BENCH_SDK=restate`)"
        )
    network = "private network namespace with only loopback" if netns else "host, loopback only"
    md = [
        f"# wakeful vs Restate - {report.path.stem}",
        "",
        f"- {versions['wakeful']}: `wakeful serve bench/services.py:app` (SQLite, defaults)",
        restate,
        f"- machine: {'; '.join(machine_facts())}",
        f"- network: {network}",
        f"- load: one aiohttp client process, 64 concurrent clients; workloads 1-3: "
        f"{args.rounds} rounds x {args.duration:g} s per system, alternating (A/B/A/B); "
        f"workload 4: {args.waiting:,} waiting; workload 5: {args.pending:,} pending; "
        f"total {elapsed / 60:.1f} min",
        "",
        render_markdown(rows),
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *[f"| {g} | {m} | {v} |" for g, m, v in goals],
        "",
    ]
    if report.notes:
        md += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    md_path = report.path.with_suffix(".md")
    md_path.write_text("\n".join(md))
    return md_path


if __name__ == "__main__":
    main()
