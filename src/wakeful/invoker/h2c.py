"""A small HTTP/2 cleartext client (prior knowledge) with full-duplex streams.

Restate's bidirectional service protocol needs what common HTTP clients do not offer: reading
the response while the request body is still being written. Each `H2Stream` is a request whose
body is sent piece by piece (`send`, then `end`) while its response arrives (`headers`,
`receive`). Connections are pooled per authority and shared by many streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

__all__ = ["H2Error", "H2Pool", "H2Stream"]


class H2Error(Exception):
    """The connection or the stream broke."""


@dataclass(eq=False)
class H2Stream:
    """One request/response exchange on a shared connection."""

    connection: _Connection
    stream_id: int
    status: asyncio.Future[tuple[int, dict[str, str]]]
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    window: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None

    async def headers(self) -> tuple[int, dict[str, str]]:
        """The response status and headers."""
        return await self.status

    async def send(self, data: bytes) -> None:
        """Write body bytes, waiting for the peer's flow-control window when it is full."""
        await self.connection.send(self, data)

    async def end(self) -> None:
        """Close the request body (the response may go on)."""
        await self.connection.end(self)

    async def receive(self) -> bytes | None:
        """The next response body bytes; None at the end of the response."""
        chunk = await self.chunks.get()
        if chunk is None and self.error is not None:
            raise H2Error(self.error)
        return chunk

    def reset(self) -> None:
        """Abandon the exchange."""
        self.connection.reset(self)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams: dict[int, H2Stream] = {}
        self.closed: str | None = None
        self.task: asyncio.Task[None] | None = None
        self._flush_scheduled = False

    def start(self) -> None:
        self.h2.initiate_connection()
        # A large receive window: the endpoint's messages are read as soon as they arrive.
        self.h2.increment_flow_control_window(2**30)
        self._flush()
        self.task = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def capacity(self) -> int:
        limit = self.h2.remote_settings.max_concurrent_streams or 100
        return int(limit) - len(self.streams)

    def _flush(self) -> None:
        # One socket write per loop pass for everything queued meanwhile (many streams
        # share the connection; a write per frame costs a system call each).
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.closed is None:
            self.writer.write(data)

    def open(self, authority: str, path: str, headers: dict[str, str]) -> H2Stream:
        stream_id = self.h2.get_next_available_stream_id()
        request = [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", authority),
            (":path", path),
            *headers.items(),
        ]
        self.h2.send_headers(stream_id, request, end_stream=False)
        self._flush()
        status: asyncio.Future[tuple[int, dict[str, str]]] = (
            asyncio.get_running_loop().create_future()
        )
        stream = H2Stream(self, stream_id, status)
        self.streams[stream_id] = stream
        return stream

    async def send(self, stream: H2Stream, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.closed is not None or stream.error is not None:
                raise H2Error(stream.error or self.closed or "closed")
            window = min(
                self.h2.local_flow_control_window(stream.stream_id),
                self.h2.max_outbound_frame_size,
            )
            if window <= 0:
                stream.window.clear()
                await stream.window.wait()
                continue
            self.h2.send_data(stream.stream_id, bytes(view[:window]))
            self._flush()
            view = view[window:]
        await self.writer.drain()

    async def end(self, stream: H2Stream) -> None:
        if self.closed is None and stream.error is None:
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self.h2.end_stream(stream.stream_id)
                self._flush()
                await self.writer.drain()

    def reset(self, stream: H2Stream) -> None:
        if self.streams.pop(stream.stream_id, None) is not None and self.closed is None:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.reset_stream(stream.stream_id)
                self._flush()

    async def _read_loop(self) -> None:
        reason = "the connection was closed"
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for event in self.h2.receive_data(data):
                    self._on_event(event)
                self._flush()
        except (OSError, h2.exceptions.ProtocolError) as e:
            reason = f"connection error: {e!r}"
        finally:
            self._close(reason)

    def _on_event(self, event: h2.events.Event) -> None:
        match event:
            case h2.events.ResponseReceived(stream_id=sid, headers=headers):
                stream = self.streams.get(sid)
                if stream is not None and not stream.status.done():
                    fields = {str(k): str(v) for k, v in headers or []}
                    stream.status.set_result((int(fields.get(":status", "0")), fields))
            case h2.events.DataReceived(stream_id=sid, data=data, flow_controlled_length=n):
                self.h2.acknowledge_received_data(n or 0, sid)
                stream = self.streams.get(sid)
                if stream is not None and data:
                    stream.chunks.put_nowait(bytes(data))
            case h2.events.StreamEnded(stream_id=sid):
                stream = self.streams.pop(sid, None)
                if stream is not None:
                    stream.chunks.put_nowait(None)
            case h2.events.StreamReset(stream_id=sid, error_code=code):
                stream = self.streams.pop(sid, None)
                if stream is not None:
                    self._fail(stream, f"the stream was reset by the endpoint (code {code})")
            case h2.events.WindowUpdated(stream_id=sid):
                targets = self.streams.values() if not sid else [self.streams.get(sid)]
                for stream in targets:
                    if stream is not None:
                        stream.window.set()
            case h2.events.ConnectionTerminated():
                self._close("the endpoint closed the connection (GOAWAY)")

    def _fail(self, stream: H2Stream, reason: str) -> None:
        stream.error = reason
        if not stream.status.done():
            stream.status.set_exception(H2Error(reason))
        stream.chunks.put_nowait(None)
        stream.window.set()

    def _close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
        for stream in list(self.streams.values()):
            self._fail(stream, reason)
        self.streams.clear()
        self.writer.close()


class H2Pool:
    """HTTP/2 connections per authority, opened on demand and shared by streams."""

    def __init__(self, connect_timeout: float = 10.0) -> None:
        self._connections: dict[str, list[_Connection]] = {}
        self._connect_timeout = connect_timeout
        self._lock = asyncio.Lock()

    async def open(self, host: str, port: int, path: str, headers: dict[str, str]) -> H2Stream:
        """Start a POST to `path` (the body follows through the stream)."""
        authority = f"{host}:{port}"
        async with self._lock:
            pool = [c for c in self._connections.get(authority, []) if c.closed is None]
            connection = next((c for c in pool if c.capacity > 0), None)
            if connection is None:
                try:
                    async with asyncio.timeout(self._connect_timeout):
                        reader, writer = await asyncio.open_connection(host, port)
                except (OSError, TimeoutError) as e:
                    raise H2Error(f"cannot connect to {authority}: {e!r}") from e
                connection = _Connection(reader, writer)
                connection.start()
                pool.append(connection)
            self._connections[authority] = pool
            return connection.open(authority, path, headers)

    async def close(self) -> None:
        """Close every connection."""
        for pool in self._connections.values():
            for connection in pool:
                connection._close("the client is closing")
                if connection.task is not None:
                    connection.task.cancel()
        self._connections.clear()
