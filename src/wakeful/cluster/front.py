"""The HTTP front door of a cluster process: the local app while it leads, else a forwarder to
the leader; plus the cluster's own endpoints (health, `GET /cluster` on the admin port).

Forwarding is plain HTTP between processes: the request goes to the leader's advertised URL
unchanged and the leader's answer streams back. A request whose leader is unknown or
unreachable (a failover is under way) waits for the next leader, up to `wait` seconds, and is
sent only once a connection to it is open, so it is never applied twice. A leader lost while
it handled a request leaves that request's outcome unknown: requests that are safe to repeat
(GET: attach and output; any request with an `idempotency-key`) are sent again to the next
leader, which answers them from what is durable; others get a 502 saying so.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import aiohttp

from wakeful.cluster.node import ClusterNode
from wakeful.server.http import (
    HttpError,
    Receive,
    Scope,
    Send,
    lifespan,
    read_body,
    send_error,
    send_json,
)
from wakeful.storage.api import PartitionLease

__all__ = ["FORWARDED", "FrontDoor", "cluster_view"]

FORWARDED = b"x-wakeful-forwarded"  # set on forwarded requests: never forwarded a second time
NOT_LEADER = b"x-wakeful-not-leader"  # on the 503 a process answers a forwarded request it cannot
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)

Asgi = Any  # an ASGI application: (scope, receive, send) -> None


class FrontDoor:
    """One port (`ingress` or `admin`) of a cluster process."""

    def __init__(
        self,
        node: ClusterNode,
        port: Literal["ingress", "admin"],
        client: aiohttp.ClientSession,
        body_limit: int,
        wait: float = 15.0,
    ) -> None:
        self.node = node
        self.port = port
        self.client = client
        self.body_limit = body_limit
        self.wait = wait
        self.local: Asgi | None = None  # the local app while this process leads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if self.port == "admin" and path == "/cluster" and scope["method"] == "GET":
            await send_json(send, 200, await cluster_view(self.node))
            return
        local = self.local
        if local is not None:  # the leader's health is its engine's
            await local(scope, receive, send)
            return
        if path in ("/restate/health", "/health"):  # a follower is healthy while it is up
            await send_json(send, 200, {})
            return
        try:
            await self._forward(scope, receive, send)
        except HttpError as e:
            await send_error(send, e, [(NOT_LEADER, b"1")] if e.status == 503 else None)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        if any(k.lower() == FORWARDED for k, _ in headers):
            raise HttpError(503, "this process does not lead the partition any more; retry")
        body = await read_body(receive, self.body_limit)
        repeatable = scope["method"] == "GET" or any(
            k.lower() == b"idempotency-key" for k, _ in headers
        )
        headers.append((FORWARDED, b"1"))
        query = scope.get("query_string", b"")
        target = scope.get("raw_path") or scope["path"].encode()
        deadline = time.monotonic() + self.wait
        while True:
            local = self.local
            if local is not None:  # this process took over while the request waited
                await local(scope, _replay(body), send)
                return
            lease = self.node.leader()
            base = None if lease is None else getattr(lease, f"{self.port}_url")
            if lease is not None and base and lease.owner != self.node.me.id:
                url = base.rstrip("/") + target.decode("latin-1")
                if query:
                    url += "?" + query.decode("latin-1")
                response: aiohttp.ClientResponse | None
                try:
                    response = await self.client.request(
                        scope["method"],
                        url,
                        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                        data=body,
                        allow_redirects=False,
                        auto_decompress=False,
                    )
                except (aiohttp.ClientConnectorError, TimeoutError):
                    response = None  # not sent: the leader is gone; wait for the next one
                except aiohttp.ClientError as e:
                    if not repeatable:
                        raise HttpError(
                            502,
                            f"the leader ({lease.owner}) was lost while answering ({e}); "
                            "the request may or may not have been applied",
                        ) from e
                    response = None  # safe to repeat: the next leader answers it
                if response is not None:
                    if response.status == 503 and (
                        NOT_LEADER.decode() in response.headers
                        or (repeatable and await self._leader_changed(lease))
                    ):
                        response.release()  # it stepped down: the next leader answers
                    else:
                        await _relay(response, send)
                        return
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError(
                    503, f"no leader for partition {self.node.partition} (failover under way)"
                )
            await self.node.changed(min(left, 1.0))

    async def _leader_changed(self, lease: PartitionLease) -> bool:
        """True if, by the next read of the lease, `lease` is no longer the leader's."""
        await self.node.changed(1.0)
        now = self.node.leader()
        return now is None or (now.owner, now.epoch) != (lease.owner, lease.epoch)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _relay(response: aiohttp.ClientResponse, send: Send) -> None:
    try:
        headers = [
            (k, v)
            for k, v in response.raw_headers
            if k.lower() not in (b"connection", b"keep-alive", b"transfer-encoding")
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        response.release()


async def cluster_view(node: ClusterNode) -> dict[str, Any]:
    """The processes, partitions, leaders and lease ages, read from the database now."""
    processes = await node.store.processes()
    leases = await node.store.leases()
    leaders = {lease.owner for lease in leases if (lease.remaining_ms or 0) > 0}
    ttl = node.ttl_ms
    return {
        "self": node.me.id,
        "leaseTtlMs": ttl,
        "processes": [
            {
                "id": p.id,
                "ingressUrl": p.ingress_url,
                "adminUrl": p.admin_url,
                "startedAtMs": p.started_ms,
                "heartbeatAgeMs": p.heartbeat_age_ms,
                "alive": p.heartbeat_age_ms <= ttl,
                "leader": p.id in leaders,
            }
            for p in processes
        ],
        "partitions": [
            {
                "partition": lease.partition,
                "leader": lease.owner if (lease.remaining_ms or 0) > 0 else None,
                "lastOwner": lease.owner,
                "epoch": lease.epoch,
                "leaseRemainingMs": lease.remaining_ms,
                "leaseAgeMs": None if lease.remaining_ms is None else ttl - lease.remaining_ms,
            }
            for lease in leases
        ],
    }
