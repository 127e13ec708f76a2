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

from wakeful.links import LinkSigner, configure_links, load_or_create_secret
from wakeful.sdk.app import App
from wakeful.server.admin import AdminApp
from wakeful.server.ingress import IngressApp
from wakeful.server.links_api import LinkIssuer
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
    admin_host: str = "127.0.0.1"  # loopback even when `host` is public
    admin_token: str | None = None  # bearer token the admin API requires
    completion_token: str | None = None  # bearer token for raw-id completions on the ingress
    link_secrets: tuple[str, ...] = ()  # the first signs links; all verify (rotation)
    public_url: str | None = None  # the ingress as people reach it, for link URLs


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


def _links(settings: RuntimeSettings, options: ServeOptions) -> tuple[LinkSigner, str]:
    """The link signer (given secrets, else the data directory's) and the links' base URL;
    `wakeful.completion_link` in handlers uses them too."""
    secrets = [s.encode() for s in options.link_secrets if s]
    signer = LinkSigner(secrets or [load_or_create_secret(settings.data_dir)])
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    public_url = options.public_url or f"http://{host}:{options.port}"
    configure_links(signer, public_url)
    return signer, public_url


async def serve(app: App, settings: RuntimeSettings, options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM: recover, then answer on the ingress and admin ports."""
    runtime = Runtime(app, settings)
    await runtime.start()
    signer, public_url = _links(settings, options)
    ingress_app = IngressApp(
        runtime,
        options.body_limit,
        completion_token=options.completion_token,
        link_signer=signer,
    )
    ingress = http_server(ingress_app, options.host, options.port)
    links = LinkIssuer(runtime, signer, public_url)
    admin_app = AdminApp(runtime, admin_token=options.admin_token, links=links)
    admin = http_server(admin_app, options.admin_host, options.admin_port)
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
        options.admin_host,
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
