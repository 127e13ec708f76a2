"""wakeful inside another ASGI application: the ingress (and optionally the admin API) as one
ASGI app, with a lifespan that runs the engine.

>>> engine = wakeful.asgi(restate.app(services=[approvals]), data_dir="/var/lib/app")
>>> api = FastAPI(lifespan=engine.lifespan)
>>> api.mount("/restate", engine)     # Restate's ingress paths under /restate/…

Starlette and FastAPI do not run the lifespan of a mounted app, hence `lifespan=`; served on its
own (`uvicorn module:engine`), the app answers the lifespan protocol itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wakeful.sdk.app import App
from wakeful.server.admin import AdminApp
from wakeful.server.http import Receive, Scope, Send, send_json
from wakeful.server.ingress import DEFAULT_BODY_LIMIT, IngressApp
from wakeful.server.runtime import Runtime, RuntimeSettings

if TYPE_CHECKING:
    from wakeful.client import RestateClient

__all__ = ["EmbeddedEngine", "asgi"]

log = logging.getLogger("wakeful")


class EmbeddedEngine:
    """An ASGI app serving Restate's ingress API (and `/admin/…` when enabled) from an engine
    that runs during its lifespan."""

    def __init__(
        self,
        app: App,
        settings: RuntimeSettings,
        *,
        admin: bool = False,
        body_limit: int = DEFAULT_BODY_LIMIT,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.settings = settings
        self.admin = admin
        self.body_limit = body_limit
        self.shutdown_timeout = shutdown_timeout
        self.runtime: Runtime | None = None
        self._ingress: IngressApp | None = None
        self._admin: AdminApp | None = None

    async def start(self) -> None:
        """Open the store and start the engine (recovering what was running)."""
        if self.runtime is not None:
            return
        runtime = Runtime(self.app, self.settings)
        await runtime.start()
        self.runtime = runtime
        self._ingress = IngressApp(runtime, self.body_limit)
        self._admin = AdminApp(runtime) if self.admin else None
        log.info("wakeful engine started in-process, data %s", self.settings.data_dir)

    async def stop(self) -> None:
        """Let running attempts reach a durable point, then stop the engine."""
        runtime, self.runtime = self.runtime, None
        self._ingress = self._admin = None
        if runtime is None:
            return
        left = await runtime.drain(self.shutdown_timeout)
        if left:
            log.warning(
                "%d attempt(s) still running at shutdown: recovered at the next start", left
            )
        await runtime.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        """Run the engine for the life of the enclosing app: `FastAPI(lifespan=e.lifespan)`."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[RestateClient]:
        """A `RestateClient` that calls this engine in-process (no socket), e.g. to resolve an
        awakeable from a webhook handler of the enclosing app."""
        import httpx

        from wakeful.client import Client

        transport = httpx.ASGITransport(app=self)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://wakeful", timeout=None
        ) as http:
            yield Client(http)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self._ingress is None:
            await send_json(send, 503, {"message": "the wakeful engine is not running"})
            return
        root: str = scope.get("root_path", "")
        path: str = scope["path"]
        if root and path.startswith(root):  # Starlette keeps the mount point in the path
            path = path[len(root) :]
        if self._admin is not None and (path == "/admin" or path.startswith("/admin/")):
            await self._admin(_below(scope, root + "/admin"), receive, send)
            return
        await self._ingress(_below(scope, root), receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as e:
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _below(scope: Scope, prefix: str) -> Scope:
    """The scope as the app mounted at `prefix` sees it: paths without the prefix."""
    path: str = scope["path"]
    raw: bytes = scope.get("raw_path") or path.encode("utf-8")
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :] or "/"
    encoded = prefix.encode("utf-8")
    if encoded and raw.startswith(encoded):
        raw = raw[len(encoded) :] or b"/"
    return {**scope, "path": path, "raw_path": raw, "root_path": ""}


def asgi(
    app: App,
    *,
    data_dir: str | Path = ".wakeful",
    inactivity_timeout: timedelta = timedelta(seconds=1),
    admin: bool = False,
    settings: RuntimeSettings | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
    shutdown_timeout: timedelta = timedelta(seconds=10),
) -> EmbeddedEngine:
    """The engine of `app` as an ASGI app to mount in FastAPI/Starlette (or serve as is).

    >>> engine = wakeful.asgi(app, data_dir="data", admin=True)
    >>> api = FastAPI(lifespan=engine.lifespan)
    >>> api.mount("/wakeful", engine)  # /wakeful/Approvals/request, /wakeful/admin/invocations
    """
    if settings is None:
        settings = RuntimeSettings(data_dir=Path(data_dir), inactivity_timeout=inactivity_timeout)
    return EmbeddedEngine(
        app,
        settings,
        admin=admin,
        body_limit=body_limit,
        shutdown_timeout=shutdown_timeout.total_seconds(),
    )
