"""What the engine and its HTTP doors are doing right now: the harness skips time only when
nothing can move without it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from wakeful.server.http import Receive, Scope, Send

__all__ = ["CountingApp", "CountingTransport"]

AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class CountingApp:
    """An ASGI app that counts the HTTP requests in progress inside `app`."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class CountingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that counts the requests sent and not yet answered.

    A request counted here but not yet by the server is on its way: time must not jump then.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()
