"""Serve an application as one process of a cluster sharing a PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time

import aiohttp

from wakeful.cluster.front import FrontDoor
from wakeful.cluster.node import ClusterNode, ClusterSettings
from wakeful.sdk.app import App
from wakeful.server.admin import AdminApp
from wakeful.server.ingress import IngressApp
from wakeful.server.links_api import LinkIssuer
from wakeful.server.runtime import Runtime, RuntimeSettings
from wakeful.server.serve import ServeOptions, _links, http_server
from wakeful.storage.api import ProcessRow
from wakeful.storage.postgres import PostgresStore
from wakeful.storage.url import describe_store_url

__all__ = ["serve_cluster"]

log = logging.getLogger("wakeful")


def _advertised_host(host: str, advertise_host: str | None) -> str:
    if host not in ("0.0.0.0", "::", ""):
        return host
    # Reachable by that name from the other machines, usually.
    return advertise_host or socket.gethostname()


async def serve_cluster(
    app: App,
    settings: RuntimeSettings,
    options: ServeOptions,
    cluster: ClusterSettings,
    advertise_host: str | None = None,
) -> None:
    """Run until SIGINT/SIGTERM: answer on both ports, lead the partition whenever this process
    holds its lease, forward to the leader otherwise."""
    assert settings.store_url is not None
    url = settings.store_url
    host = _advertised_host(options.host, advertise_host)
    admin_host = _advertised_host(options.admin_host, advertise_host)
    me = ProcessRow(
        id=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}",
        ingress_url=f"http://{host}:{options.port}",
        admin_url=f"http://{admin_host}:{options.admin_port}",
        started_ms=int(time.time() * 1000),
        heartbeat_age_ms=0,
    )
    signer, public_url = _links(settings, options)  # give every process the same --link-secret
    membership = PostgresStore(url, min_connections=1, max_connections=2)
    await membership.open()
    # Forwarded calls and attaches wait as long as the invocation runs.
    # No cap on connections: every waiting call or attach holds one to the leader, as long as
    # the invocation runs. (aiohttp: httpx forwarded about 30 requests/s here, one at a time.)
    client = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=2.0),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
    )
    runtime: Runtime | None = None

    async def on_lead(partition: int, epoch: int) -> None:
        nonlocal runtime
        started = Runtime(app, settings, store=PostgresStore(url))
        started.leader.epoch = epoch  # the lease's epoch fences every earlier leader
        await started.start()
        runtime = started
        ingress.local = IngressApp(
            started,
            options.body_limit,
            completion_token=options.completion_token,
            link_signer=signer,
        )
        admin.local = AdminApp(
            started,
            admin_token=options.admin_token,
            links=LinkIssuer(started, signer, public_url),
        )

    async def on_lose(partition: int, why: str) -> None:
        nonlocal runtime
        ingress.local = admin.local = None
        stopping, runtime = runtime, None
        if stopping is not None:
            await stopping.stop()

    node = ClusterNode(membership, me, cluster, on_lead, on_lose)
    ingress = FrontDoor(node, "ingress", client, options.body_limit)
    admin = FrontDoor(node, "admin", client, options.body_limit)
    ingress_server = http_server(ingress, options.host, options.port)
    admin_server = http_server(admin, options.admin_host, options.admin_port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers = [
        loop.create_task(ingress_server.serve(), name="wakeful-ingress"),
        loop.create_task(admin_server.serve(), name="wakeful-admin"),
    ]
    await node.start()
    log.info(
        "wakeful process %s serving %d service(s): ingress %s, admin %s, store %s",
        me.id,
        len(app.services),
        me.ingress_url,
        me.admin_url,
        describe_store_url(url),
    )
    stopper = loop.create_task(stop.wait())
    done, _ = await asyncio.wait([*servers, stopper], return_when=asyncio.FIRST_COMPLETED)
    await node.stop()
    for server in (ingress_server, admin_server):
        server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.gather(*servers, return_exceptions=True)
    stopper.cancel()
    await client.close()
    await membership.close()
    for task in done:
        if task is not stopper and task.exception() is not None:
            raise SystemExit(f"server stopped: {task.exception()}")
    log.info("wakeful stopped")
