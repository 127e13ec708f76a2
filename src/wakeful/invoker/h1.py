"""A small HTTP/1.1 client for request/response attempts: keep-alive connections per
authority, the request sent whole, the response body read as it arrives.

Measured: the general-purpose client spent about a third of the server's CPU per attempt
(mostly in its per-request async-library detection); this one parses with `h11` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11

__all__ = ["H1Error", "H1Pool", "H1Response"]


class H1Error(Exception):
    """The connection broke or the answer was not HTTP/1.1."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)

    async def next_event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(65536)
            self.h11.receive_data(data)  # b"" marks the end of the stream

    def close(self) -> None:
        self.writer.close()


@dataclass
class H1Response:
    """A response whose body is read with `chunks()`."""

    status: int
    _connection: _Connection

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece, as it arrives."""
        while True:
            event = await self._connection.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise H1Error("the connection closed before the end of the response")

    async def read(self, limit: int = 4096) -> bytes:
        """Up to `limit` bytes of the body."""
        body = b""
        async for chunk in self.chunks():
            body += chunk
            if len(body) >= limit:
                break
        return body[:limit]


class H1Pool:
    """Keep-alive HTTP/1.1 connections per authority."""

    def __init__(self, connect_timeout: float = 10.0) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._connect_timeout = connect_timeout

    async def _connect(self, host: str, port: int) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as e:
            raise H1Error(f"cannot connect to {host}:{port}: {e!r}") from e
        return _Connection(reader, writer)

    async def _send(
        self, connection: _Connection, host: str, path: str, headers: dict[str, str], body: bytes
    ) -> H1Response:
        fields = [("host", host), ("content-length", str(len(body))), *headers.items()]
        data = connection.h11.send(h11.Request(method="POST", target=path, headers=fields))
        data = (data or b"") + (connection.h11.send(h11.Data(data=body)) or b"")
        data += connection.h11.send(h11.EndOfMessage()) or b""
        connection.writer.write(data)
        await connection.writer.drain()
        event = await connection.next_event()
        while isinstance(event, h11.InformationalResponse):
            event = await connection.next_event()
        if not isinstance(event, h11.Response):
            raise H1Error(f"no response: {event!r}")
        return H1Response(event.status_code, connection)

    @contextlib.asynccontextmanager
    async def post(
        self, host: str, port: int, path: str, headers: dict[str, str], body: bytes
    ) -> AsyncIterator[H1Response]:
        """POST `body`; yields the response (its status, then its body as it arrives)."""
        idle = self._idle.setdefault((host, port), [])
        connection = idle.pop() if idle else None
        response: H1Response | None = None
        if connection is not None:
            try:  # a kept-alive connection the server may have closed meanwhile
                response = await self._send(connection, f"{host}:{port}", path, headers, body)
            except (OSError, H1Error, h11.ProtocolError):
                connection.close()
                connection = None
        if connection is None:
            connection = await self._connect(host, port)
            try:
                response = await self._send(connection, f"{host}:{port}", path, headers, body)
            except (OSError, h11.ProtocolError) as e:
                connection.close()
                raise H1Error(f"the request failed: {e!r}") from e
            except H1Error:
                connection.close()
                raise
        assert response is not None
        reusable = False
        try:
            yield response
            h = connection.h11
            reusable = h.our_state is h11.DONE and h.their_state is h11.DONE
        except (OSError, h11.ProtocolError) as e:
            raise H1Error(f"the connection broke: {e!r}") from e
        finally:
            if reusable:
                connection.h11.start_next_cycle()
                idle.append(connection)
            else:
                connection.close()

    async def close(self) -> None:
        """Close the idle connections."""
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
