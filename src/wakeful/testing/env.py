"""An in-process wakeful for tests: the real engine, store and HTTP ingress, on a virtual clock.

```python
async with wakeful.testing.start(app) as env:
    handle = await env.client.service_send(request, arg="contract.pdf")
    (pending,) = await env.awakeables(handle.invocation_id)
    await env.resolve_awakeable(pending.id, "approved")
    assert await env.client.get_output(handle) == "approved"
```

Time skipping follows Temporal's rule: the clock jumps to the next durable timer only while
somebody waits for a result (a call, an attach, `env.result`) and nothing else can move: no
attempt in memory, no event in a leader's queue, no other request in progress or on its way.
A handler racing an awakeable against a 3-day sleep therefore times out at once when the test
awaits its result without resolving it, and never behind the back of a test that is about to.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from wakeful.client import Client, RestateClient
from wakeful.engine.model import RetryPolicy, Status
from wakeful.engine.waits import WaitKind, WaitStatus
from wakeful.journal.entries import Entry
from wakeful.journal.ids import InvocationId
from wakeful.sdk.app import App
from wakeful.server.admin import AdminApp
from wakeful.server.ingress import IngressApp
from wakeful.server.runtime import Runtime, RuntimeSettings
from wakeful.server.serve import http_server
from wakeful.storage.api import SINGLE_PARTITION, Store, WaitQuery
from wakeful.storage.sqlite import SqliteStore
from wakeful.testing.activity import CountingApp, CountingTransport
from wakeful.testing.clock import VirtualClock

__all__ = ["PendingAwakeable", "TestEnvironment", "start"]

POLL_S = 0.002  # how often the skipper looks at the engine (real time)
SETTLE_POLLS = 3  # ...and for how many looks in a row nothing may move before time jumps
# With always_replay off an attempt stays in memory this long before it suspends; time can
# only jump once it has (an attempt in memory might still make progress on its own).
LIVE_INACTIVITY = timedelta(milliseconds=50)


@dataclass(frozen=True, slots=True)
class PendingAwakeable:
    """An awakeable that has been created and not yet completed."""

    id: str
    invocation_id: str
    target: str
    deadline: datetime | None  # when a durable timer it races fires (set once it suspends)
    description: str | None = None  # ctx.awakeable(description=...)


class TestEnvironment:
    """One engine on one store, with its ingress (and admin API) on free ports."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        *,
        make_store: Callable[[], Store],
        settings: RuntimeSettings,
        clock: VirtualClock,
        time_skipping: bool,
        http: bool,
    ) -> None:
        self.app = app
        self.make_store = make_store
        self.store = make_store()
        self.settings = settings
        self.clock = clock
        self.time_skipping = time_skipping
        self.http = http
        self.runtime: Runtime | None = None
        self.ingress_url = ""
        self.admin_api_url = ""
        self._ingress: CountingApp | None = None
        self._admin: CountingApp | None = None
        self._servers: list[Any] = []
        self._server_tasks: list[asyncio.Task[None]] = []
        self._transport = CountingTransport()
        self._http_client: httpx.AsyncClient | None = None
        self._client: RestateClient | None = None
        self._skipper: asyncio.Task[None] | None = None
        self._holds = 0  # env helpers in progress: time does not jump under them
        self._ports = (0, 0)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def client(self) -> RestateClient:
        """The wakeful ingress client (`create_client`'s) connected to this environment."""
        if self._client is None:
            raise RuntimeError("the environment was started with http=False: no ingress client")
        return self._client

    async def _start(self) -> None:
        runtime = Runtime(self.app, self.settings, store=self.store, clock=self.clock)
        await runtime.start()
        self.runtime = runtime
        if self.http:
            await self._serve(runtime)
        if self._http_client is None and self.http:
            self._http_client = httpx.AsyncClient(
                base_url=self.ingress_url, transport=self._transport, timeout=None
            )
            self._client = Client(self._http_client)
        if self.time_skipping:
            self._skipper = asyncio.get_running_loop().create_task(
                self._skip_time(), name="wakeful-time-skipper"
            )

    async def _serve(self, runtime: Runtime) -> None:
        self._ingress = CountingApp(IngressApp(runtime))
        self._admin = CountingApp(AdminApp(runtime))
        ports = []
        for app, port in ((self._ingress, self._ports[0]), (self._admin, self._ports[1])):
            server = http_server(app, "127.0.0.1", port)
            task = asyncio.get_running_loop().create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()  # raises why it could not start
                await asyncio.sleep(0.001)
            self._servers.append(server)
            self._server_tasks.append(task)
            ports.append(server.servers[0].sockets[0].getsockname()[1])
        self._ports = (ports[0], ports[1])
        self.ingress_url = f"http://127.0.0.1:{ports[0]}"
        self.admin_api_url = f"http://127.0.0.1:{ports[1]}"

    async def _stop(self) -> None:
        if self._skipper is not None:
            self._skipper.cancel()
            await asyncio.gather(self._skipper, return_exceptions=True)
            self._skipper = None
        for server in self._servers:
            server.should_exit = True
        await asyncio.gather(*self._server_tasks, return_exceptions=True)
        self._servers, self._server_tasks = [], []
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def close(self) -> None:
        """Stop the engine and the servers and close the client."""
        await self._stop()
        if self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None
            self._client = None

    async def restart(self) -> None:
        """Stop the engine (attempts in flight are dropped, as in a crash) and start it again on
        the same data and ports: what was durable carries on."""
        await self._stop()
        self.store = self.make_store()
        await self._start()

    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("the environment is not running")
        return self.runtime

    # -- time -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The virtual time (what `ctx.time()` and durable timers see)."""
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    async def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`: due timers fire in order, each at its own time,
        and this returns once what they started has settled."""
        target = self.clock.now_ms() + int(delta.total_seconds() * 1000)
        with self._hold():
            while True:
                await self._settle()
                due = await self._next_timer_ms()
                if due is None or due > target:
                    break
                self.clock.advance_to(due)
            self.clock.advance_to(target)
            await self._settle()

    async def _next_timer_ms(self) -> int | None:
        """The due time of the earliest durable timer (sleeps, delayed sends, retries)."""
        return await self.store.next_timer_due_ms(SINGLE_PARTITION)

    def _engine_idle(self) -> bool:
        runtime = self._runtime()
        return runtime.invoker.running == 0 and all(
            leader.idle for leader in runtime.router.leaders
        )

    def _parked(self) -> int:
        """Requests waiting for an invocation's result."""
        return sum(leader.result_waiters for leader in self._runtime().router.leaders)

    def _requests(self) -> int:
        return sum(app.in_flight for app in (self._ingress, self._admin) if app is not None)

    async def _settle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound, not a cancel scope
        """Wait until no attempt is in memory and no leader has work (or `timeout` passes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < SETTLE_POLLS and loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            quiet = quiet + 1 if self._engine_idle() else 0

    async def _skip_time(self) -> None:
        """Jump to the next timer whenever a result is awaited and nothing else can move."""
        quiet = 0
        while True:
            await asyncio.sleep(POLL_S)
            if self.runtime is None or self._holds or not self._engine_idle():
                quiet = 0
                continue
            parked, requests = self._parked(), self._requests()
            in_transit = self._transport.in_flight > requests
            if parked == 0 or requests > parked or in_transit:
                quiet = 0
                continue
            quiet += 1
            if quiet < SETTLE_POLLS:
                continue
            due = await self._next_timer_ms()
            if due is not None and due > self.clock.now_ms():
                self.clock.advance_to(due)
            quiet = 0

    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1

    @contextlib.contextmanager
    def no_time_skipping(self) -> Iterator[None]:
        """Within this block the clock moves only through `advance`."""
        with self._hold():
            yield

    # -- external events ------------------------------------------------------------------

    async def awakeables(
        self,
        invocation_id: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the harness API: real seconds to wait
    ) -> list[PendingAwakeable]:
        """The pending awakeables (of one invocation, if given), oldest first, from the index of
        pending waits; waits until there is at least one, up to `timeout` seconds of real time."""
        with self._hold():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                found = await self._pending_awakeables(invocation_id)
                if found:
                    return found
                if loop.time() >= deadline:
                    where = f" of {invocation_id}" if invocation_id else ""
                    raise TimeoutError(f"no pending awakeable{where} within {timeout} s")
                await asyncio.sleep(POLL_S)

    async def _pending_awakeables(self, invocation_id: str | None) -> list[PendingAwakeable]:
        query = WaitQuery(
            kind=int(WaitKind.AWAKEABLE),
            status=int(WaitStatus.PENDING),
            invocation_id=None if invocation_id is None else InvocationId.parse(invocation_id),
            limit=10_000,
        )
        rows = await self.store.list_waits(query)
        return [
            PendingAwakeable(
                id=row.wait_id,
                invocation_id=str(InvocationId.from_bytes(row.invocation_id)),
                target=row.target,
                deadline=(
                    None
                    if row.deadline_ms is None
                    else datetime.fromtimestamp(row.deadline_ms / 1000, UTC)
                ),
                description=row.description,
            )
            for row in reversed(rows)  # oldest first: the order they were created in
        ]

    async def resolve_awakeable(self, awakeable_id: str, value: Any = None) -> None:
        """Resolve an awakeable over the ingress, as an outside system would."""
        with self._hold():
            await self.client.resolve_awakeable(awakeable_id, value)

    async def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        """Reject an awakeable; the waiting handler gets a `TerminalError(message)`."""
        with self._hold():
            await self.client.reject_awakeable(awakeable_id, message)

    async def signal(self, invocation_id: str, name: str, value: Any = None) -> None:
        """Resolve the named signal `name` of an invocation (`ctx.signal(name)`) with `value`."""
        await self._complete_signal(invocation_id, name, "resolve", json=value)

    async def reject_signal(
        self, invocation_id: str, name: str, message: str, code: int = 500
    ) -> None:
        """Reject the named signal: its awaiter gets `TerminalError(message, code)`."""
        await self._complete_signal(
            invocation_id, name, "reject", content=message.encode(), params={"code": code}
        )

    async def _complete_signal(
        self, invocation_id: str, name: str, verb: str, **request: Any
    ) -> None:
        if self._http_client is None:
            raise RuntimeError("the environment was started with http=False: no ingress")
        path = f"/restate/invocation/{invocation_id}/signals/{quote(name, safe='')}/{verb}"
        with self._hold():
            response = await self._http_client.post(path, **request)
        if response.status_code >= 300:
            raise AssertionError(f"{verb} signal {name!r}: {response.status_code} {response.text}")

    async def journal(self, invocation_id: str) -> list[Entry]:
        """The journal of an invocation as stored: commands and notifications, in order."""
        return await self.store.load_journal(SINGLE_PARTITION, InvocationId.parse(invocation_id))

    async def status(self, invocation_id: str) -> Status | None:
        """The invocation's status, or None if it does not exist."""
        iid = InvocationId.parse(invocation_id)
        found = await self.store.load_invocations(SINGLE_PARTITION, [iid])
        return found[iid].status if iid in found else None

    async def wait_for_suspension(
        self,
        invocation_id: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the harness API: real seconds to wait
    ) -> None:
        """Return once the invocation is suspended (waits up to `timeout` seconds real time)."""
        with self._hold():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while (status := await self.status(invocation_id)) != Status.SUSPENDED:
                if status == Status.COMPLETED:
                    raise AssertionError(f"{invocation_id} completed instead of suspending")
                if loop.time() >= deadline:
                    raise TimeoutError(f"{invocation_id} did not suspend within {timeout} s")
                await asyncio.sleep(POLL_S)


@contextlib.asynccontextmanager
async def start(
    app: App,
    *,
    time_skipping: bool = True,
    always_replay: bool = True,
    disable_retries: bool = False,
    http: bool = True,
    data_dir: Path | None = None,
    start_time: datetime | None = None,
) -> AsyncIterator[TestEnvironment]:
    """Run `app` on an in-process engine for the duration of the block.

    - `time_skipping`: the clock is virtual and jumps to the next durable timer when a result
      is awaited and nothing else can move; `env.advance()` moves it explicitly;
    - `always_replay`: every await that is not ready suspends the attempt and the next one
      replays the journal, so nondeterminism fails the test with a 570 journal mismatch;
    - `disable_retries`: a failed attempt ends the invocation (Restate's harness option);
    - `http`: serve the ingress and admin API on free ports (`env.client`, `env.ingress_url`);
    - `data_dir`: keep the SQLite store there (default: a temporary directory, removed after).
    """
    owned = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="wakeful-test-")) if data_dir is None else data_dir
    start_ms = None if start_time is None else int(start_time.timestamp() * 1000)
    clock = VirtualClock(start_ms)
    settings = RuntimeSettings(
        data_dir=directory,
        inactivity_timeout=timedelta(0) if always_replay else LIVE_INACTIVITY,
        retry_policy=(
            RetryPolicy(max_attempts=1, on_max_attempts="kill")
            if disable_retries
            else RetryPolicy()
        ),
    )
    env = TestEnvironment(
        app,
        make_store=lambda: SqliteStore(directory / "wakeful.sqlite"),
        settings=settings,
        clock=clock,
        time_skipping=time_skipping,
        http=http,
    )
    try:
        await env._start()
        yield env
    finally:
        await env.close()
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
