"""An in-process runtime with its ingress and admin API on real ports, over a store whose
commits can be made to fail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from tests.support.server import free_port

from wakeful.engine.model import RetryPolicy
from wakeful.sdk.app import App
from wakeful.server.admin import AdminApp
from wakeful.server.ingress import IngressApp
from wakeful.server.runtime import Runtime, RuntimeSettings
from wakeful.storage.api import Batch
from wakeful.storage.sqlite import SqliteStore

__all__ = ["FaultyStore", "Served", "serve_in_process", "until"]


class FaultyStore:
    """A SQLite store whose commits raise a chosen error, a number of times or until healed."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self._error: BaseException | None = None
        self._times: int | None = 0
        self._when: Callable[[Batch], bool] = lambda batch: True
        self.failed_commits = 0

    def fail(
        self,
        error: BaseException,
        times: int | None = 1,
        when: Callable[[Batch], bool] = lambda batch: True,
    ) -> None:
        """Make the next `times` commits matching `when` raise `error` (None: every one)."""
        self._error, self._times, self._when = error, times, when

    def heal(self) -> None:
        """Commits succeed again."""
        self._error = None

    async def commit(self, partition: int, epoch: int, batch: Batch) -> None:
        """Raise the armed error, or commit for real."""
        error = self._error
        if error is not None and self._times != 0 and self._when(batch):
            if self._times is not None:
                self._times -= 1
            self.failed_commits += 1
            raise error
        await self.inner.commit(partition, epoch, batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Served:
    """A running in-process server."""

    runtime: Runtime
    store: FaultyStore
    url: str
    admin_url: str


async def until(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    """Poll `condition` until it holds (True) or `within_s` passes (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return False


def _server(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws="none"
    )
    return uvicorn.Server(config)


@contextlib.asynccontextmanager
async def serve_in_process(app: App, data_dir: Path) -> AsyncIterator[Served]:
    """Start the runtime, the ingress and the admin API; stop them afterwards."""
    store = FaultyStore(SqliteStore(data_dir / "wakeful.sqlite"))
    settings = RuntimeSettings(
        data_dir=data_dir,
        inactivity_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(initial_interval_ms=20, max_interval_ms=100),
    )
    runtime = Runtime(app, settings, store=store)  # type: ignore[arg-type]  # duck-typed store
    await runtime.start()
    port, admin_port = free_port(), free_port()
    servers = [_server(IngressApp(runtime), port), _server(AdminApp(runtime), admin_port)]
    tasks = [asyncio.get_running_loop().create_task(s.serve()) for s in servers]
    assert await until(lambda: all(s.started for s in servers))
    try:
        yield Served(runtime, store, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}")
    finally:
        for server in servers:
            server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
        await runtime.stop()
