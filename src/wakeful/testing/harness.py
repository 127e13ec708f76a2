"""restate-sdk's test-harness API, run in process: no Docker, no Restate container.

`create_test_harness` (async) and `test_harness` (sync, the engine on a background thread)
take restate-sdk's arguments; the image is accepted and ignored. `time_skipping=True` is
wakeful's addition: durable timers fire as soon as a result is awaited and nothing else can
move (see `wakeful.testing.start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from wakeful.sdk.app import App
from wakeful.testing.env import TestEnvironment, start

if TYPE_CHECKING:
    from wakeful.client import RestateClient

__all__ = ["HarnessEnvironment", "RestateTestHarness", "create_test_harness", "test_harness"]


@dataclass
class HarnessEnvironment:
    """Where the harness's engine listens, and a client of its ingress."""

    ingress_url: str
    admin_api_url: str
    client: RestateClient


@contextlib.asynccontextmanager
async def create_test_harness(
    app: App,
    follow_logs: bool = False,
    restate_image: str = "",
    always_replay: bool = False,
    disable_retries: bool = False,
    journal_value_codec: Any = None,
    *,
    time_skipping: bool = False,
) -> AsyncIterator[HarnessEnvironment]:
    """Run `app` on an in-process engine with its ingress and admin API on free ports.

    ```python
    async with restate.create_test_harness(app) as env:
        assert await env.client.service_call(greet, arg="Ada") == "Hello Ada!"
    ```
    `follow_logs` and `restate_image` are restate-sdk's Docker options: accepted, no effect.
    """
    del follow_logs, restate_image
    if journal_value_codec is not None:
        raise NotImplementedError("journal value codecs are not supported by wakeful yet")
    async with start(
        app,
        time_skipping=time_skipping,
        always_replay=always_replay,
        disable_retries=disable_retries,
    ) as env:
        yield HarnessEnvironment(env.ingress_url, env.admin_api_url, env.client)


class RestateTestHarness:
    """The synchronous harness: the engine runs on its own thread and event loop.

    ```python
    with restate.test_harness(app) as harness:
        client = harness.ingress_client()
        assert client.post("/greeter/greet", json="Ada").json() == "Hello Ada!"
    ```
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        *,
        always_replay: bool = False,
        disable_retries: bool = False,
        time_skipping: bool = False,
    ) -> None:
        self.app = app
        self.always_replay = always_replay
        self.disable_retries = disable_retries
        self.time_skipping = time_skipping
        self.env: TestEnvironment | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> RestateTestHarness:
        """Start the engine; returns once its ingress answers."""
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(started),), name="wakeful-harness", daemon=True
        )
        self._thread.start()
        started.result(timeout=30)
        return self

    async def _serve(self, started: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with start(
                self.app,
                always_replay=self.always_replay,
                disable_retries=self.disable_retries,
                time_skipping=self.time_skipping,
            ) as env:
                self.env = env
                started.set_result(None)
                await self._stop.wait()
        except BaseException as e:
            if not started.done():
                started.set_exception(e)
            raise

    def stop(self) -> None:
        """Stop the engine and its thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = self._loop = self._stop = None
        self.env = None

    def _env(self) -> TestEnvironment:
        if self.env is None:
            raise AssertionError("the harness has not been started: use .start() or `with`")
        return self.env

    @property
    def ingress_url(self) -> str:
        """The ingress's base URL."""
        return self._env().ingress_url

    @property
    def admin_api_url(self) -> str:
        """The admin API's base URL."""
        return self._env().admin_api_url

    def ingress_client(self) -> httpx.Client:
        """A synchronous httpx client of the ingress."""
        return httpx.Client(base_url=self.ingress_url)

    def admin_client(self) -> httpx.Client:
        """A synchronous httpx client of the admin API."""
        return httpx.Client(base_url=self.admin_api_url)

    def __enter__(self) -> RestateTestHarness:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def test_harness(
    app: App,
    follow_logs: bool = False,
    restate_image: str = "",
    always_replay: bool = False,
    disable_retries: bool = False,
    *,
    time_skipping: bool = False,
) -> RestateTestHarness:
    """restate-sdk's synchronous harness (deprecated there in favour of create_test_harness)."""
    del follow_logs, restate_image
    return RestateTestHarness(
        app,
        always_replay=always_replay,
        disable_retries=disable_retries,
        time_skipping=time_skipping,
    )


test_harness.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
