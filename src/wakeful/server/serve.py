"""Serve an application: the runtime plus the ingress and admin HTTP servers on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from wakeful.sdk.app import App
from wakeful.server.admin import AdminApp
from wakeful.server.ingress import IngressApp
from wakeful.server.runtime import Runtime, RuntimeSettings
from wakeful.storage.url import describe_store_url

__all__ = ["ServeOptions", "http_server", "serve"]

log = logging.getLogger("wakeful")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where to listen."""

    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 9070
    body_limit: int = 32 * 1024 * 1024


def http_server(app: Callable[..., Any], host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        # Requests attached to invocations that will not finish must not hold up a shutdown.
        timeout_graceful_shutdown=2,
        backlog=4096,
        proxy_headers=False,  # no proxy in front: skip the middleware on every request
        server_header=False,
        ws="none",  # no websocket endpoints; not loading that protocol saves 25 ms at start
    )
    server = uvicorn.Server(config)
    # serve() handles SIGINT/SIGTERM for both servers and the runtime; uvicorn must not.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


async def serve(app: App, settings: RuntimeSettings, options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM: recover, then answer on the ingress and admin ports."""
    runtime = Runtime(app, settings)
    await runtime.start()
    ingress = http_server(IngressApp(runtime, options.body_limit), options.host, options.port)
    admin = http_server(AdminApp(runtime), options.host, options.admin_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers = [
        loop.create_task(ingress.serve(), name="wakeful-ingress"),
        loop.create_task(admin.serve(), name="wakeful-admin"),
    ]
    log.info(
        "wakeful serving %d service(s): ingress http://%s:%d, admin http://%s:%d, data %s",
        len(app.services),
        options.host,
        options.port,
        options.host,
        options.admin_port,
        describe_store_url(settings.store_url) if settings.store_url else settings.data_dir,
    )
    stopper = loop.create_task(stop.wait())
    done, _ = await asyncio.wait([*servers, stopper], return_when=asyncio.FIRST_COMPLETED)
    for server in (ingress, admin):
        server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.gather(*servers, return_exceptions=True)
    stopper.cancel()
    await runtime.stop()
    for task in done:
        if task is not stopper and task.exception() is not None:
            raise SystemExit(f"server stopped: {task.exception()}")
    log.info("wakeful stopped")
