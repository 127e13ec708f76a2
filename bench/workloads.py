"""The load generator: one aiohttp client driving a system over the HTTP ingress API only.

Every workload returns `{metric: value}`; `run.py` runs them A/B/A/B and reports. The few
admin-API reads (`settle`) only decide when to take a measurement; they are never timed.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from systems import Restate, System

from wakeful.journal.ids import AwakeableId, InvocationId

__all__ = [
    "awakeable_flows",
    "crash_restart",
    "echo",
    "session_for",
    "waiting",
    "workflow_flows",
]

CONCURRENCY = 64
# Longer than wakeful's default inactivity timeout (1 s): an invocation waiting this long is
# suspended, so "wake one of ten" compares like with like against "wake one of N". (Restate's
# SDK keeps an invocation in memory for a minute by default, both the ten and the N.)
SUSPEND_S = 1.5
SETTLE_S = 0.01  # between a send and its resolve: let the handler reach its await
ATTACH_LEAD_S = 0.002  # between opening the attach and sending the resolve


def awakeable_id(invocation_id: str) -> str:
    """The first awakeable of an invocation: `sign_1` + base64url(invocation id ‖ u32 BE 17).

    Restate's SDK and wakeful mint it the same way; the harness checks it against Restate
    (a resolve to a wrong id would leave the attach waiting, and the flow would fail).
    """
    return str(AwakeableId(InvocationId.parse(invocation_id), 17))


def session_for(connections: int = 512) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, ttl_dns_cache=None)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=300, sock_connect=10)
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class FlowError(Exception):
    pass


async def _send(session: aiohttp.ClientSession, url: str, body: Any = None) -> str:
    # no body: no content-type either (Restate rejects one for a handler without input)
    kwargs: dict[str, Any] = (
        {"skip_auto_headers": ("Content-Type",)} if body is None else {"json": body}
    )
    async with session.post(url, **kwargs) as r:
        if r.status not in (200, 202):
            raise FlowError(f"send {url}: {r.status} {await r.text()}")
        data = await r.json(content_type=None)
    return str(data["invocationId"])


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as r:
        return r.status, await r.json(content_type=None)


async def _post_ok(session: aiohttp.ClientSession, url: str, body: Any, ok: Iterable[int]) -> None:
    async with session.post(url, json=body) as r:
        text = await r.read()
        if r.status not in tuple(ok):
            raise FlowError(f"POST {url}: {r.status} {text[:300]!r}")


async def _resolve_and_collect(
    session: aiohttp.ClientSession, attach_url: str, resolve: Callable[[], Awaitable[None]],
    expect: Any,
) -> float:  # fmt: skip
    """Open the attach, resolve, wait for the result; seconds from resolve sent to result."""
    attach = asyncio.ensure_future(_get_json(session, attach_url))
    await asyncio.sleep(ATTACH_LEAD_S)
    t0 = time.perf_counter()
    try:
        await resolve()
    except BaseException:
        attach.cancel()
        raise
    status, body = await attach
    elapsed = time.perf_counter() - t0
    if status != 200 or body != expect:
        raise FlowError(f"attach {attach_url}: {status} {str(body)[:300]}")
    return elapsed


async def _closed_loop(
    duration: float, concurrency: int, one: Callable[[], Awaitable[float | None]]
) -> tuple[list[float], int, float, list[str]]:
    """`concurrency` workers repeat `one` until `duration` is over; (latencies, errors, secs)."""
    latencies: list[float] = []
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration

    async def worker() -> None:
        while loop.time() < deadline:
            try:
                value = await one()
            except (FlowError, aiohttp.ClientError, TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}"[:300])
                await asyncio.sleep(0.01)
                continue
            if value is not None:
                latencies.append(value)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, len(errors), time.perf_counter() - t0, errors[:3]


# --- workload 1: echo -------------------------------------------------------------------------


async def echo(session: aiohttp.ClientSession, system: System, duration: float) -> dict[str, Any]:
    url = f"{system.url}/Bench/echo"

    async def one() -> float:
        t0 = time.perf_counter()
        async with session.post(url, json="hello") as r:
            body = await r.read()
            if r.status != 200 or body != b'"hello"':
                raise FlowError(f"echo: {r.status} {body[:200]!r}")
        return time.perf_counter() - t0

    lat, errors, elapsed, samples = await _closed_loop(duration, CONCURRENCY, one)
    return {
        "echo_calls_per_s": round(len(lat) / elapsed, 1),
        "echo_p50_ms": ms(pct(lat, 0.5)),
        "echo_p99_ms": ms(pct(lat, 0.99)),
        "echo_errors": errors,
        "_error_samples": samples,
    }


# --- workload 2: awakeable flow ---------------------------------------------------------------


async def awakeable_flow(session: aiohttp.ClientSession, base: str) -> float:
    """send → (the handler hands the awakeable out in ctx.run and waits) → resolve → result."""
    iid = await _send(session, f"{base}/Bench/awakeable/send")
    await asyncio.sleep(SETTLE_S)
    aid = awakeable_id(iid)
    return await _resolve_and_collect(
        session,
        f"{base}/restate/invocation/{iid}/attach",
        lambda: _post_ok(session, f"{base}/restate/awakeables/{aid}/resolve", "ok", (200, 202)),
        "ok",
    )


async def _flows(
    name: str, duration: float, flow: Callable[[], Awaitable[float]]
) -> dict[str, Any]:
    """Run `flow` in a closed loop; `{name}_flows_per_s`, resolve→result p50/p99, errors."""
    lat, errors, elapsed, samples = await _closed_loop(duration, CONCURRENCY, flow)
    return {
        f"{name}_flows_per_s": round(len(lat) / elapsed, 1),
        f"{name}_resolve_to_result_p50_ms": ms(pct(lat, 0.5)),
        f"{name}_resolve_to_result_p99_ms": ms(pct(lat, 0.99)),
        f"{name}_errors": errors,
        "_error_samples": samples,
    }


async def awakeable_flows(
    session: aiohttp.ClientSession, system: System, duration: float
) -> dict[str, Any]:
    return await _flows("awakeable", duration, lambda: awakeable_flow(session, system.url))


# --- workload 3: workflow promise flow --------------------------------------------------------


async def workflow_flow(session: aiohttp.ClientSession, base: str) -> float:
    """run/send → (run awaits the promise) → shared `resolve` call → workflow result."""
    key = uuid.uuid4().hex
    await _send(session, f"{base}/BenchFlow/{key}/run/send")
    await asyncio.sleep(SETTLE_S)
    return await _resolve_and_collect(
        session,
        f"{base}/restate/workflow/BenchFlow/{key}/attach",
        lambda: _post_ok(session, f"{base}/BenchFlow/{key}/resolve", "ok", (200,)),
        "ok",
    )


async def workflow_flows(
    session: aiohttp.ClientSession, system: System, duration: float
) -> dict[str, Any]:
    return await _flows("workflow", duration, lambda: workflow_flow(session, system.url))


# --- helpers for the big workloads ------------------------------------------------------------


async def _bounded(
    items: list[Any], concurrency: int, fn: Callable[[Any], Awaitable[Any]]
) -> list[Any]:
    """Apply `fn` to every item with at most `concurrency` in flight; results in item order."""
    results: list[Any] = [None] * len(items)
    position = iter(range(len(items)))

    async def worker() -> None:
        for i in position:
            for attempt in range(5):
                try:
                    results[i] = await fn(items[i])
                    break
                except (aiohttp.ClientError, TimeoutError) as e:
                    if attempt == 4:
                        results[i] = e
                    await asyncio.sleep(0.2 * (attempt + 1))
                except FlowError as e:
                    results[i] = e
                    break

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


@dataclass
class RssSampler:
    """Peak RSS per role, sampled every 0.25 s in a thread (psutil does not block the loop)."""

    system: System
    peak: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        def loop() -> None:
            while not self._stop.wait(0.25):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def sample(self) -> dict[str, int]:
        now = self.system.rss()
        for role, value in now.items():
            self.peak[role] = max(self.peak.get(role, 0), value)
        return now

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


async def settle(
    session: aiohttp.ClientSession, system: System, durable_steps: int, limit_s: float
) -> tuple[float, dict[str, int]]:
    """Wait until every started invocation waits with its step durable; (seconds, statuses).

    wakeful: nothing `pending`/`running`/`backing-off` any more (all suspended: the inactivity
    timeout is 1 s). Restate (inactivity timeout 1 min, so they stay `running` in the SDK):
    `durable_steps` run completions are in the journals.
    """
    t0 = time.perf_counter()
    statuses: dict[str, int] = {}
    while time.perf_counter() - t0 < limit_s:
        if isinstance(system, Restate):
            rows = await asyncio.to_thread(
                system.query,
                "select count(*) as n from sys_journal where entry_type = 'Notification: Run'",
            )
            done = int(rows[0]["n"]) >= durable_steps  # type: ignore[call-overload]
        else:
            busy = 0
            for status in ("pending", "running", "backing-off"):
                code, body = await _get_json(
                    session, f"{system.admin_url}/invocations?status={status}&limit=1"
                )
                busy += len(body["invocations"]) if code == 200 else 1
            done = busy == 0
        if done:
            break
        await asyncio.sleep(0.25)
    elapsed = time.perf_counter() - t0
    if isinstance(system, Restate):
        rows = await asyncio.to_thread(
            system.query, "select status, count(*) as n from sys_invocation group by status"
        )
        statuses = {str(r["status"]): int(r["n"]) for r in rows}  # type: ignore[call-overload]
    return elapsed, statuses


async def first_accepted(session: aiohttp.ClientSession, base: str, limit_s: float = 120) -> float:
    """Poll a send until one is accepted; seconds since the call (the server was just spawned)."""
    t0 = time.perf_counter()
    timeout_one = aiohttp.ClientTimeout(total=2)
    while time.perf_counter() - t0 < limit_s:
        try:
            async with session.post(
                f"{base}/Bench/echo/send", json="ping", timeout=timeout_one
            ) as r:
                await r.read()
                if r.status in (200, 202):
                    return time.perf_counter() - t0
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.002)
    raise FlowError(f"no request accepted within {limit_s}s of the restart")


async def wake_one(session: aiohttp.ClientSession, base: str, iid: str) -> float:
    aid = awakeable_id(iid)
    return await _resolve_and_collect(
        session,
        f"{base}/restate/invocation/{iid}/attach",
        lambda: _post_ok(session, f"{base}/restate/awakeables/{aid}/resolve", "ok", (200, 202)),
        "ok",
    )


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


# --- workload 4: many waiting invocations -----------------------------------------------------


async def waiting(
    session: aiohttp.ClientSession, system: System, count: int, log: Callable[[str], None],
    collect: bool = True, wake_samples: int = 30,
) -> dict[str, Any]:  # fmt: skip
    """`count` invocations waiting on an awakeable: start rate, RSS, disk, wake cost, restart,
    resolve and collect all."""
    base = system.url
    out: dict[str, Any] = {"waiting_count": count}
    rng = random.Random(7)
    with RssSampler(system) as sampler:
        await asyncio.sleep(1)
        idle = sampler.sample()
        idle_disk = system.disk_bytes()
        # waking one of ten
        lat10: list[float] = []
        steps = 0
        for _ in range(3):
            ten = [await _send(session, f"{base}/Bench/awakeable/send") for _ in range(10)]
            steps += 10
            await settle(session, system, steps, 60)
            await asyncio.sleep(SUSPEND_S)
            for iid in ten:
                lat10.append(await wake_one(session, base, iid))
        # `count` waiting
        log(f"  {system.name}: sending {count} awakeable invocations")
        t0 = time.perf_counter()
        ids = await _bounded(
            list(range(count)), CONCURRENCY,
            lambda _i: _send(session, f"{base}/Bench/awakeable/send"),
        )  # fmt: skip
        start_s = time.perf_counter() - t0
        failed = [x for x in ids if not isinstance(x, str)]
        ids = [x for x in ids if isinstance(x, str)]
        out["waiting_start_per_s"] = round(len(ids) / start_s, 1)
        out["waiting_start_errors"] = len(failed)
        settle_s, statuses = await settle(session, system, steps + len(ids), 1800)
        out["waiting_settle_s"] = round(settle_s, 2)
        out["waiting_ready_per_s"] = round(len(ids) / (start_s + settle_s), 1)
        if statuses:
            out["_statuses"] = statuses
        await asyncio.sleep(1)
        now = sampler.sample()
        disk = system.disk_bytes()
        for role, value in now.items():
            out[f"waiting_rss_{role}_idle_mib"] = _mib(idle.get(role, 0))
            out[f"waiting_rss_{role}_mib"] = _mib(value)
        out["waiting_rss_total_mib"] = _mib(sum(now.values()))
        out["waiting_rss_per_waiting_bytes"] = round(
            (sum(now.values()) - sum(idle.values())) / max(1, len(ids))
        )
        out["waiting_disk_mib"] = _mib(disk)
        out["waiting_disk_bytes_per_waiting"] = round((disk - idle_disk) / max(1, len(ids)))
        # waking one of `count`
        chosen = set(rng.sample(range(len(ids)), min(wake_samples, len(ids))))
        latn = [await wake_one(session, base, ids[i]) for i in sorted(chosen)]
        ids = [iid for i, iid in enumerate(ids) if i not in chosen]
        out["wake_one_of_10_p50_ms"] = ms(statistics.median(lat10))
        out["wake_one_of_n_p50_ms"] = ms(statistics.median(latn))
        out["wake_one_of_n_max_ms"] = ms(max(latn))
        if not collect:
            out["waiting_rss_peak_total_mib"] = _mib(sum(sampler.peak.values()))
            return out
        # kill -9 and restart with them pending
        log(f"  {system.name}: kill -9 with {len(ids)} waiting, restart")
        system.kill9()
        system.restart_server()
        out["waiting_restart_first_accept_s"] = round(await first_accepted(session, base), 3)
        await asyncio.to_thread(system.wait_healthy)
        await asyncio.sleep(2)
        after = sampler.sample()
        out["waiting_rss_server_after_restart_mib"] = _mib(after.get("server", 0))
        # resolve all, then collect all
        log(f"  {system.name}: resolving and collecting {len(ids)}")
        t0 = time.perf_counter()
        resolved = await _bounded(
            ids, CONCURRENCY,
            lambda iid: _post_ok(
                session, f"{base}/restate/awakeables/{awakeable_id(iid)}/resolve", "ok", (200, 202)
            ),
        )  # fmt: skip
        resolve_s = time.perf_counter() - t0
        results = await _bounded(
            ids, CONCURRENCY,
            lambda iid: _get_json(session, f"{base}/restate/invocation/{iid}/attach"),
        )  # fmt: skip
        total_s = time.perf_counter() - t0
        ok = sum(1 for r in results if r == (200, "ok"))
        out["waiting_resolve_all_s"] = round(resolve_s, 2)
        out["waiting_resolve_and_collect_all_s"] = round(total_s, 2)
        out["waiting_results_ok"] = ok
        out["waiting_results_missing"] = len(ids) - ok
        out["waiting_resolve_errors"] = sum(1 for r in resolved if r is not None)
        out["waiting_rss_peak_total_mib"] = _mib(sum(sampler.peak.values()))
        for role, value in sampler.peak.items():
            out[f"waiting_rss_{role}_peak_mib"] = _mib(value)
    return out


# --- workload 5: kill -9 with invocations pending ---------------------------------------------


def _run_counts(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(line for line in path.read_text().splitlines() if line)


async def crash_restart(
    session: aiohttp.ClientSession, system: System, count: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """`count` invocations past a ctx.run (it appends a line) waiting on an awakeable; kill -9
    the server; restart; time to the first accepted request; resolve all; check."""
    base = system.url
    keys = [f"k{i}" for i in range(count)]
    log(f"  {system.name}: sending {count} invocations with a step, then kill -9")
    ids = await _bounded(
        keys, CONCURRENCY, lambda key: _send(session, f"{base}/Bench/pending/send", key)
    )
    failed = sum(1 for x in ids if not isinstance(x, str))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 600:  # every step body ran (a line each) ...
        if sum(_run_counts(system.run_log).values()) >= count:
            break
        await asyncio.sleep(0.1)
    await settle(session, system, count, 600)
    out: dict[str, Any] = {"crash_pending": count, "crash_send_errors": failed}
    system.kill9()
    system.restart_server()
    out["crash_restart_first_accept_s"] = round(await first_accepted(session, base), 3)
    await asyncio.to_thread(system.wait_healthy)
    log(f"  {system.name}: restarted; resolving and collecting {count}")
    pairs = [(k, iid) for k, iid in zip(keys, ids, strict=True) if isinstance(iid, str)]
    t0 = time.perf_counter()
    await _bounded(
        pairs, CONCURRENCY,
        lambda p: _post_ok(
            session, f"{base}/restate/awakeables/{awakeable_id(p[1])}/resolve", "ok", (200, 202)
        ),
    )  # fmt: skip
    results = await _bounded(
        pairs, CONCURRENCY,
        lambda p: _get_json(session, f"{base}/restate/invocation/{p[1]}/attach"),
    )  # fmt: skip
    out["crash_resolve_and_collect_all_s"] = round(time.perf_counter() - t0, 2)
    ok = sum(1 for (k, _), r in zip(pairs, results, strict=True) if r == (200, f"{k}:ok"))
    counts = _run_counts(system.run_log)
    out["crash_results_ok"] = ok
    out["crash_results_missing"] = count - ok
    out["crash_steps_run_more_than_once"] = sum(1 for k in keys if counts[k] > 1)
    out["crash_steps_never_run"] = sum(1 for k in keys if counts[k] == 0)
    return out
