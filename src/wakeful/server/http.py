"""Small ASGI helpers shared by the ingress and admin apps: bodies, JSON answers, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

__all__ = [
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "HttpError",
    "Receive",
    "Scope",
    "Send",
    "check_headers",
    "lifespan",
    "read_body",
    "request_headers",
    "send_bytes",
    "send_json",
]

_encode_json = msgspec.json.Encoder().encode

# Restate's ingress (hyper) answers 431 past 100 request headers; the size bound keeps a few
# huge headers from being forwarded into every journal.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class HttpError(Exception):
    """An error answered as `{"code", "message", "source"}` JSON with an HTTP status."""

    def __init__(self, status: int, message: str, source: str = "ingress") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.source = source


def check_headers(scope: Scope) -> None:
    """431 for a request with more headers, or larger ones, than the ingress takes."""
    headers = scope.get("headers") or []
    if len(headers) > MAX_HEADERS:
        raise HttpError(
            431, f"too many request headers: {len(headers)}, the limit is {MAX_HEADERS}"
        )
    size = sum(len(k) + len(v) for k, v in headers)
    if size > MAX_HEADER_BYTES:
        raise HttpError(
            431, f"request headers too large: {size} bytes, the limit is {MAX_HEADER_BYTES}"
        )


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; 413 once it grows past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body larger than the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def request_headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-cased names (the last value wins for repeated names)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes | None = None,
) -> None:
    """Answer with a raw body."""
    all_headers = list(headers or [])
    if content_type is not None:
        all_headers.append((b"content-type", content_type))
    all_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with a JSON body."""
    body = _encode_json(payload)
    await send_bytes(send, status, body, headers, b"application/json")


async def send_error(
    send: Send, error: HttpError, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with Restate's JSON error shape and the `x-restate-error-source` header."""
    all_headers = [*(headers or []), (b"x-restate-error-source", error.source.encode())]
    payload = {"code": error.status, "message": error.message, "source": error.source}
    await send_json(send, error.status, payload, all_headers)


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol (the runtime starts before the servers)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
