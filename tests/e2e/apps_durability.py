"""The application the suspension, crash and retry tests serve, and how they read its traces.

`wakeful serve tests/e2e/apps_durability.py:app` runs it; its handlers leave traces in the
directory named by `WAKEFUL_TEST_DIR`, one line per event, each appended with a single
`write(2)` on an `O_APPEND` descriptor so lines from concurrent writers never interleave:

- `steps.log`: `"{invocation id} {step}"` each time a `ctx.run` body executes;
- `awakeables.log`: `"{invocation id} {label} {awakeable id}"` each time a step hands out an
  awakeable id (create awakeable -> a step hands the id out -> await, as Restate recommends);
- `attempts.log`: `"{invocation id}"` each time an attempt of a retried handler starts;
- `flags/{invocation id}`: created by a test to make a failing handler succeed.

The lower half of this module is the test side: `Traces` reads those files, and a few HTTP
helpers drive the server.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

import wakeful as restate
from wakeful import Context, InvocationRetryPolicy, RunOptions, Service, TerminalError

APP = f"{__file__}:app"
TRACES_ENV = "WAKEFUL_TEST_DIR"

T = TypeVar("T")


# -- the app side: writing traces ----------------------------------------------------------


def _traces() -> Path:
    return Path(os.environ[TRACES_ENV])


def _append(file: str, line: str) -> None:
    fd = os.open(_traces() / file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def _step(ctx: Context, step: str, value: T) -> T:
    """The body of a counted step: leave a trace, return `value`."""
    _append("steps.log", f"{ctx.request().id} {step}")
    return value


def _hand_out(ctx: Context, step: str, label: str, awakeable_id: str) -> str:
    """The body of a step that hands an awakeable id to the outside world (the test)."""
    _append("steps.log", f"{ctx.request().id} {step}")
    _append("awakeables.log", f"{ctx.request().id} {label} {awakeable_id}")
    return awakeable_id


def _fresh(prefix: str) -> str:
    """A value that differs on every execution: only the journal can make it come back."""
    return f"{prefix}-{uuid.uuid4().hex}"


def _start_attempt(ctx: Context) -> int:
    """Trace the start of an attempt; return how many attempts this invocation has started."""
    invocation_id = ctx.request().id
    _append("attempts.log", invocation_id)
    lines = (_traces() / "attempts.log").read_text().splitlines()
    return lines.count(invocation_id)


def _flag_set(ctx: Context) -> bool:
    return (_traces() / "flags" / ctx.request().id).exists()


# -- Durability: suspension, replay, determinism, crashes -----------------------------------

durability = Service("Durability")


@durability.handler()
async def pipeline(ctx: Context, name: str) -> dict[str, Any]:
    """Three steps interleaved with two awakeables awaited one after the other."""
    a = await ctx.run("step-a", lambda: _step(ctx, "step-a", _fresh("a")))
    first_id, first = ctx.awakeable()
    await ctx.run("hand-out-1", lambda: _hand_out(ctx, "hand-out-1", "first", first_id))
    v1 = await first
    b = await ctx.run("step-b", lambda: _step(ctx, "step-b", _fresh("b")))
    second_id, second = ctx.awakeable()
    await ctx.run("hand-out-2", lambda: _hand_out(ctx, "hand-out-2", "second", second_id))
    v2 = await second
    c = await ctx.run("step-c", lambda: _step(ctx, "step-c", _fresh("c")))
    return {"name": name, "steps": [a, b, c], "payloads": [v1, v2]}


@durability.handler()
async def deterministic(ctx: Context) -> dict[str, Any]:
    """Values from ctx.uuid()/ctx.random(), journaled once and computed again on every attempt."""
    u1, r1 = str(ctx.uuid()), ctx.random().random()
    recorded_1 = await ctx.run("record-1", lambda: _step(ctx, "record-1", [u1, r1]))
    first_id, first = ctx.awakeable()
    await ctx.run("hand-out-1", lambda: _hand_out(ctx, "hand-out-1", "first", first_id))
    await first
    u2 = str(ctx.uuid())
    recorded_2 = await ctx.run("record-2", lambda: _step(ctx, "record-2", u2))
    second_id, second = ctx.awakeable()
    await ctx.run("hand-out-2", lambda: _hand_out(ctx, "hand-out-2", "second", second_id))
    await second
    return {"recorded": [recorded_1, recorded_2], "computed": [[u1, r1], u2]}


_ATTEMPTS_SEEN: Counter[str] = Counter()


@durability.handler()
async def nondeterministic(ctx: Context) -> str:
    """The name of its second step changes on every attempt: replay must detect it."""
    _ATTEMPTS_SEEN[ctx.request().id] += 1
    step = f"varying-{_ATTEMPTS_SEEN[ctx.request().id]}"
    awakeable_id, awakeable = ctx.awakeable()
    await ctx.run("hand-out", lambda: _hand_out(ctx, "hand-out", "only", awakeable_id))
    await ctx.run(step, lambda: _step(ctx, step, None))
    await awakeable
    return "unreachable: every replay diverges"


async def _wait_once(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """Hand out one awakeable and await it; `linger`/`linger_after` (seconds) slow the steps."""

    async def hand_out() -> str:
        _hand_out(ctx, "hand-out", "only", awakeable_id)
        await asyncio.sleep(req.get("linger", 0))  # the completion is not durable before this
        return awakeable_id

    async def after() -> str:
        _step(ctx, "after", None)
        await asyncio.sleep(req.get("linger_after", 0))
        return "done"

    awakeable_id, awakeable = ctx.awakeable()
    await ctx.run("hand-out", hand_out)
    payload = await awakeable
    await ctx.run("after", after)
    return {"invocation": ctx.request().id, "payload": payload}


@durability.handler()
async def wait_once(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """One awakeable, with the server's inactivity timeout."""
    return await _wait_once(ctx, req)


@durability.handler(inactivity_timeout=timedelta(seconds=60))
async def wait_once_live(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    """One awakeable; the attempt stays in memory while it waits (no suspension for 60 s)."""
    return await _wait_once(ctx, req)


# -- Retries: invocation retry policies and step retries ------------------------------------

retries = Service("Retries")


@retries.handler()
async def flaky(ctx: Context) -> str:
    """Fails its first two attempts with a plain exception, then succeeds."""
    attempt = _start_attempt(ctx)
    if attempt <= 2:
        raise ValueError(f"flaky attempt {attempt}")
    return f"succeeded on attempt {attempt}"


def _fail_fast(on_max_attempts: Any) -> InvocationRetryPolicy:
    return InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50),
        max_attempts=3,
        on_max_attempts=on_max_attempts,
    )


@retries.handler(invocation_retry_policy=_fail_fast("pause"))
async def until_flagged_pause(ctx: Context) -> str:
    """Fails every attempt until its flag file exists; paused after 3 attempts."""
    attempt = _start_attempt(ctx)
    if not _flag_set(ctx):
        raise ValueError(f"failing attempt {attempt}")
    return f"succeeded on attempt {attempt}"


@retries.handler(invocation_retry_policy=_fail_fast("kill"))
async def always_fails_kill(ctx: Context) -> str:
    """Fails every attempt; killed (completed with the failure) after 3 attempts."""
    attempt = _start_attempt(ctx)
    raise ValueError(f"failing attempt {attempt}")


def _failing_body(ctx: Context, step: str, successes_after: int | None) -> Callable[[], str]:
    def body() -> str:
        _step(ctx, step, None)
        tries = Traces(_traces()).steps()[(ctx.request().id, step)]
        if successes_after is not None and tries > successes_after:
            return f"{step} succeeded on try {tries}"
        raise ConnectionError(f"{step} try {tries} failed")

    return body


@retries.handler()
async def step_gives_up(ctx: Context) -> dict[str, Any]:
    """A step that always fails, with max_attempts=3: the handler catches the TerminalError."""
    options: RunOptions[str] = RunOptions(max_attempts=3)
    try:
        await ctx.run_typed("doomed", _failing_body(ctx, "doomed", None), options)
    except TerminalError as e:
        return {"caught": e.message, "status_code": e.status_code}
    return {"caught": None, "status_code": None}


@retries.handler()
async def step_recovers(ctx: Context) -> str:
    """A step that fails twice, then succeeds on its third try (max_attempts=3)."""
    options: RunOptions[str] = RunOptions(max_attempts=3)
    return await ctx.run_typed("shaky", _failing_body(ctx, "shaky", 2), options)


app = restate.app(services=[durability, retries])


# -- the test side: reading traces, driving the server ------------------------------------


class Traces:
    """What the handlers wrote in their trace directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _lines(self, file: str) -> list[list[str]]:
        path = self.folder / file
        if not path.exists():
            return []
        text = path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line being written is not counted yet
        return [line.split(" ") for line in complete.splitlines()]

    def steps(self) -> Counter[tuple[str, str]]:
        """How many times each (invocation id, step) body executed."""
        return Counter((iid, step) for iid, step in self._lines("steps.log"))

    def awakeables(self) -> dict[str, dict[str, list[str]]]:
        """invocation id -> label -> the awakeable ids handed out, in order."""
        found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for iid, label, awakeable_id in self._lines("awakeables.log"):
            found[iid][label].append(awakeable_id)
        return found

    def awakeable(self, invocation_id: str, label: str, timeout: float = 10.0) -> str:
        """Wait until `invocation_id` has handed out awakeable `label`; return its id."""
        return wait_until(
            lambda: (self.awakeables().get(invocation_id, {}).get(label) or [None])[0],
            timeout,
            f"{invocation_id} to hand out awakeable {label!r}",
        )

    def attempts(self, invocation_id: str) -> int:
        """How many attempts of `invocation_id` started."""
        return sum(1 for (iid,) in self._lines("attempts.log") if iid == invocation_id)

    def set_flag(self, invocation_id: str) -> None:
        """Make the handler of `invocation_id` succeed from its next attempt on."""
        (self.folder / "flags").mkdir(exist_ok=True)
        (self.folder / "flags" / invocation_id).touch()


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def send(url: str, path: str, body: Any) -> str:
    """`POST {url}/{path}/send`; return the new invocation id."""
    response = httpx.post(f"{url}/{path}/send", json=body, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["invocationId"])


def resolve(url: str, awakeable_id: str, payload: Any) -> None:
    """Resolve an awakeable over HTTP with a JSON payload."""
    response = httpx.post(f"{url}/restate/awakeables/{awakeable_id}/resolve", json=payload)
    assert response.status_code == 202, response.text


def attach(url: str, invocation_id: str, timeout: float = 20.0) -> httpx.Response:
    """`GET /restate/invocation/{id}/attach`: waits for the invocation's result."""
    return httpx.get(f"{url}/restate/invocation/{invocation_id}/attach", timeout=timeout)


def describe(admin_url: str, invocation_id: str) -> dict[str, Any]:
    """The admin API's description of an invocation, journal included."""
    response = httpx.get(f"{admin_url}/invocations/{invocation_id}", timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_status(admin_url: str, invocation_id: str, status: str, timeout: float = 10.0) -> Any:
    """Wait until the admin API reports `status`; return the description."""
    return wait_until(
        lambda: (d := describe(admin_url, invocation_id))["status"] == status and d,
        timeout,
        f"{invocation_id} to be {status}",
    )


def invocations_with_status(admin_url: str, status: str) -> set[str]:
    """Ids of the invocations the admin API lists with `status`."""
    response = httpx.get(
        f"{admin_url}/invocations", params={"status": status, "limit": 10_000}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["invocations"]}


async def _gather_requests(
    requests: Iterable[tuple[str, str, Any]], request_timeout: float
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(timeout=request_timeout, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(client.request(method, url, json=body) for method, url, body in requests)
            )
        )


def concurrently(
    requests: Iterable[tuple[str, str, Any]], timeout: float = 30.0
) -> list[httpx.Response]:
    """Issue `(method, url, json body)` requests all at once; the responses in the same order."""
    return asyncio.run(_gather_requests(requests, timeout))
