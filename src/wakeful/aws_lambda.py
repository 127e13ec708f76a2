"""An ASGI app behind AWS Lambda's HTTP events (restate-sdk's `restate.aws_lambda`).

The functions translate a Lambda request event into an ASGI call and collect the ASGI response
into a Lambda response. They work with any ASGI app; wakeful itself is a long-running server
with its own store, so `wrap_asgi_as_lambda_handler(app)` is only useful for stateless ASGI
apps, not for `wakeful serve`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import os
from collections.abc import Awaitable, Callable, MutableMapping
from types import ModuleType
from typing import Any, TypedDict

__all__ = [
    "LambdaHandler",
    "ResponseCollector",
    "create_scope",
    "is_lambda_compression_supported",
    "is_running_on_lambda",
    "request_to_receive",
    "wrap_asgi_as_lambda_handler",
    "zstd_compress",
    "zstd_decompress",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[Scope, Receive, Callable[[Message], Awaitable[None]]], Awaitable[None]]


class RestateLambdaRequest(TypedDict):
    """The HTTP event Lambda hands to a function."""

    path: str
    httpMethod: str
    headers: dict[str, str]
    body: str
    isBase64Encoded: bool


class RestateLambdaResponse(TypedDict):
    """The HTTP answer a Lambda function returns."""

    statusCode: int
    headers: dict[str, str]
    body: str
    isBase64Encoded: bool


RestateLambdaHandler = Callable[[RestateLambdaRequest, Any], RestateLambdaResponse]


def create_scope(req: RestateLambdaRequest) -> Scope:
    """The ASGI HTTP scope of a Lambda request."""
    headers = {k.lower(): v for k, v in req.get("headers", {}).items()}
    path = req["path"]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "http_version": "1.1",
        "method": req["httpMethod"],
        "scheme": headers.get("x-forwarded-proto", "https"),
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": None,
        "server": None,
    }


def request_to_receive(req: RestateLambdaRequest) -> Receive:
    """An ASGI `receive` that yields the request's body once, then a disconnect."""
    raw = req.get("body") or ""
    body = base64.b64decode(raw) if req.get("isBase64Encoded") else raw.encode()
    headers = {k.lower(): v for k, v in req.get("headers", {}).items()}
    if headers.get("content-encoding") == "zstd":
        body = zstd_decompress(body)
    sent = False

    async def recv() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return recv


class ResponseCollector:
    """An ASGI `send` that gathers the response for Lambda."""

    def __init__(self, accept_encoding: str = "") -> None:
        self.status_code = 500
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.accept_encoding = accept_encoding

    async def __call__(self, message: Message) -> None:
        """Record one ASGI response message."""
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))

    def to_lambda_response(self) -> RestateLambdaResponse:
        """The collected response as a Lambda answer (base64 body, zstd when accepted)."""
        body, headers = bytes(self.body), dict(self.headers)
        if "zstd" in self.accept_encoding and is_lambda_compression_supported():
            body = zstd_compress(body)
            headers["content-encoding"] = "zstd"
        return {
            "statusCode": self.status_code,
            "headers": headers,
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }


def is_running_on_lambda() -> bool:
    """Whether this process runs inside AWS Lambda."""
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ


class LambdaHandler:
    """Serves an ASGI app to Lambda events on an event loop of its own (kept between events,
    as Lambda reuses the process; `close()` ends it)."""

    def __init__(self, asgi_app: ASGIApp) -> None:
        self.asgi_app = asgi_app
        self.loop = asyncio.new_event_loop()

    def __call__(self, event: RestateLambdaRequest, _context: Any) -> RestateLambdaResponse:
        """Answer one Lambda HTTP event."""
        headers = {k.lower(): v for k, v in event.get("headers", {}).items()}
        send = ResponseCollector(accept_encoding=headers.get("accept-encoding", ""))
        app = self.asgi_app(create_scope(event), request_to_receive(event), send)
        self.loop.run_until_complete(app)
        return send.to_lambda_response()

    def close(self) -> None:
        """Close the event loop."""
        self.loop.close()


def wrap_asgi_as_lambda_handler(asgi_app: ASGIApp) -> RestateLambdaHandler:
    """A Lambda handler that serves `asgi_app` (a stateless ASGI app; not `wakeful serve`)."""
    return LambdaHandler(asgi_app)


def _get_zstd_module() -> ModuleType | None:
    # By name: which of them is installed differs between machines (Python 3.14+ has the first).
    for name in ("compression.zstd", "backports.zstd"):
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    return None


def is_lambda_compression_supported() -> str | None:
    """'zstd' when running on Lambda with a zstd module available, else None."""
    return "zstd" if is_running_on_lambda() and _get_zstd_module() is not None else None


def zstd_compress(data: bytes | bytearray) -> bytes:
    """Compress with zstd (needs Python 3.14's compression.zstd or backports.zstd)."""
    zstd = _get_zstd_module()
    if zstd is None:
        raise RuntimeError("zstd needs Python 3.14's compression.zstd or backports.zstd")
    return bytes(zstd.compress(data))


def zstd_decompress(data: bytes) -> bytes:
    """Decompress zstd data (needs Python 3.14's compression.zstd or backports.zstd)."""
    zstd = _get_zstd_module()
    if zstd is None:
        raise RuntimeError("zstd needs Python 3.14's compression.zstd or backports.zstd")
    return bytes(zstd.decompress(data))
