"""Serve an application: the runtime plus the ingress and admin HTTP servers on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
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
    access_log: bool = False  # one line a request on the `uvicorn.access` logger
    shutdown_timeout: float = 10.0  # seconds running attempts get to stop at a durable point
    admin_host: str = "127.0.0.1"  # loopback even when `host` is public
    admin_token: str | None = None  # bearer token the admin API requires
    completion_token: str | None = None  # bearer token for raw-id completions on the ingress
    link_secrets: tuple[str, ...] = ()  # the first signs links; all verify (rotation)
    public_url: str | None = None  # the ingress as people reach it, for link URLs


def http_server(
    app: Callable[..., Any], host: str, port: int, access_log: bool = False, grace: float = 2.0
) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        lifespan="off",
        timeout_keep_alive=30,
        # Requests attached to invocations that will not finish must not hold up a shutdown;
        # their clients can attach again once the server is back.
        timeout_graceful_shutdown=math.ceil(grace),
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
    """Run until SIGINT/SIGTERM: recover, then answer on the ingress and admin ports.

    The first signal stops accepting connections, lets running attempts reach a durable point
    (waiting ones suspend at once) for up to `options.shutdown_timeout`, commits what they
    reported and exits; a second signal exits at once. Nothing answered is lost either way:
    every answer follows a commit, and attempts cut short are recovered at the next start.
    """
    runtime = Runtime(app, settings)
    await runtime.start()
    grace = min(2.0, options.shutdown_timeout)  # for open requests; attempts get the rest
    signer, public_url = _links(settings, options)
    ingress_app = IngressApp(
        runtime,
        options.body_limit,
        completion_token=options.completion_token,
        link_signer=signer,
    )
    ingress = http_server(ingress_app, options.host, options.port, options.access_log, grace)
    links = LinkIssuer(runtime, signer, public_url)
    admin_app = AdminApp(runtime, admin_token=options.admin_token, links=links)
    admin = http_server(
        admin_app, options.admin_host, options.admin_port, options.access_log, grace
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, sig, stop, options.shutdown_timeout)
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
    started = loop.time()
    for server in (ingress, admin):
        server.should_exit = True
    left, _ = await asyncio.gather(
        runtime.drain(options.shutdown_timeout),
        asyncio.gather(*servers, return_exceptions=True),
    )
    stopper.cancel()
    if left:
        log.warning(
            "%d attempt(s) still running after %.1fs: they restart from their journal at the "
            "next start",
            left,
            options.shutdown_timeout,
        )
    await runtime.stop()
    for task in done:
        if task is not stopper and task.exception() is not None:
            raise SystemExit(f"server stopped: {task.exception()}")
    log.info("wakeful stopped in %.2fs", loop.time() - started)


def _on_signal(sig: signal.Signals, stop: asyncio.Event, timeout: float) -> None:
    if not stop.is_set():
        log.info(
            "%s: stopping; running attempts get up to %gs to reach a durable point "
            "(send it again to exit at once)",
            sig.name,
            timeout,
        )
        stop.set()
        return
    # Everything answered is already committed, and SQLite's WAL survives an abrupt exit, so
    # exiting without the remaining cleanup is as safe as a crash, which recovery handles.
    log.warning("%s again: exiting at once; unfinished attempts resume at the next start", sig.name)
    logging.shutdown()
    os._exit(1)
