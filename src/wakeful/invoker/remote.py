"""Runs attempts on remote deployments over Restate's service protocol.

Each attempt POSTs `{uri}/invoke/{service}/{handler}` with the StartMessage and the journal,
then reads the endpoint's messages until it ends (End, Suspension or Error):

- request/response (endpoints that declare it, and every `use_http_11` deployment): the request
  body is complete before the answer is read, so the endpoint sees its input closed and
  suspends at the first await that the journal cannot answer; the entries it produced are
  posted to the engine with the event that closes the attempt, in one batch;
- bidirectional (HTTP/2 cleartext endpoints in BIDI_STREAM mode, `remote_bidi`): entries are
  posted as they arrive and durable notifications are streamed back until the endpoint ends or
  the inactivity timeout lets it suspend.

Either way, a suspended invocation waits with nothing held until a notification wakes it.

An invocation stays on the deployment its first attempt ran on (pinning), as in Restate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.deployments.model import Deployment
from wakeful.deployments.registry import Deployments
from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.engine.events import AttemptFailed, Event
from wakeful.engine.model import HandlerKind, ObjectKey, Target
from wakeful.invoker.h1 import H1Error, H1Pool
from wakeful.invoker.h2c import H2Error, H2Pool, H2Stream
from wakeful.invoker.remote_attempt import RemoteAttempt
from wakeful.invoker.remote_bidi import Item, run_bidi
from wakeful.journal.entries import Entry, Failure
from wakeful.journal.ids import InvocationId
from wakeful.protocol.discovery import is_bidi
from wakeful.protocol.framing import FrameDecoder, FramingError
from wakeful.protocol.messages import decode
from wakeful.protocol.version import content_type

__all__ = ["RemoteInvoker", "RemoteSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RemoteSettings:
    """Server-wide defaults for remote attempts."""

    abort_timeout: timedelta = timedelta(minutes=10)
    connect_timeout: timedelta = timedelta(seconds=10)
    inactivity_timeout: timedelta = timedelta(minutes=1)


@dataclass(slots=True)
class _Live:
    attempt: int
    task: asyncio.Task[None] | None = None
    inbox: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    streaming: bool = False  # a bidi stream is open: entries go to its inbox


class RemoteInvoker:
    """Starts attempts of remote services on `StartAttempt`."""

    def __init__(
        self,
        deployments: Deployments,
        *,
        post: Callable[[Event], None],
        load_journal: Callable[[InvocationId], Awaitable[list[Entry]]],
        load_state: Callable[[ObjectKey], Awaitable[dict[str, bytes]]],
        handler_kind: Callable[[Target], HandlerKind | None],
        inactivity_timeout_ms: Callable[[Target], int | None] = lambda target: None,
        settings: RemoteSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.deployments = deployments
        self.settings = settings or RemoteSettings()
        self._post = post
        self._load_journal = load_journal
        self._load_state = load_state
        self._handler_kind = handler_kind
        self._inactivity_timeout_ms = inactivity_timeout_ms
        self._live: dict[InvocationId, _Live] = {}
        connect_s = self.settings.connect_timeout.total_seconds()
        self._h1 = H1Pool(connect_s)
        self._h2 = H2Pool(connect_s)

    @property
    def running(self) -> int:
        """How many remote attempts are in flight."""
        return len(self._live)

    def start(self, effect: StartAttempt) -> None:
        """Start an attempt (the engine already made it the current one)."""
        previous = self._live.get(effect.invocation_id)
        if previous is not None and previous.task is not None:
            previous.task.cancel()
        live = _Live(effect.attempt)
        self._live[effect.invocation_id] = live
        live.task = asyncio.get_running_loop().create_task(self._run(effect, live))

    def deliver(self, effect: EntriesAppended) -> None:
        """Durable entries for a live attempt: a bidi stream forwards their notifications; a
        request/response attempt ends and the next attempt sees them."""
        live = self._live.get(effect.invocation_id)
        if live is not None and live.attempt == effect.attempt and live.streaming:
            live.inbox.put_nowait(effect)

    def abort(self, invocation_id: InvocationId) -> None:
        """Stop a live attempt, if there is one."""
        live = self._live.pop(invocation_id, None)
        if live is not None and live.task is not None:
            live.task.cancel()

    def abort_all(self) -> None:
        """Stop every live attempt (their invocations are recovered)."""
        for invocation_id in list(self._live):
            self.abort(invocation_id)

    async def close(self) -> None:
        """Abort every attempt and close the connections."""
        tasks = [live.task for live in self._live.values() if live.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._h1.close()
        await self._h2.close()

    def _deployment(self, effect: StartAttempt, first: bool) -> Deployment | None:
        iid = effect.invocation_id.to_bytes()
        store = self.deployments.store
        pinned = None if first else store.pinned(iid)
        if pinned is not None and pinned in self.deployments.deployments:
            return self.deployments.deployments[pinned]
        deployment = self.deployments.serving(effect.target.service)
        if deployment is not None:
            store.pin(iid, deployment.id)
        return deployment

    async def _run(self, effect: StartAttempt, live: _Live) -> None:
        iid = effect.invocation_id
        try:
            self._post(await self._attempt(effect, live))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # never lose an attempt: the engine retries it
            log.exception("invocation %s: remote attempt %d crashed", iid, effect.attempt)
            failure = Failure(500, repr(e))
            self._post(AttemptFailed(iid, effect.attempt, [], failure, self.clock.now_ms()))
        finally:
            if self._live.get(iid) is live:
                del self._live[iid]

    async def _attempt(self, effect: StartAttempt, live: _Live) -> Event:
        iid, target = effect.invocation_id, effect.target
        live.streaming = True  # keep what is appended from now on, for a bidi stream
        journal = effect.journal
        if journal is None:
            journal = await self._load_journal(iid)
        deployment = self._deployment(effect, first=len(journal) <= 1)
        version = 5 if deployment is None else deployment.protocol_version
        attempt = RemoteAttempt(
            iid, effect.attempt, target, journal, version, self._handler_kind, self.clock
        )
        if deployment is None:
            return attempt.failed(Failure(404, f"no deployment serves {target.service}"))
        state = None
        kind = self._handler_kind(target)
        if kind is not None and kind != HandlerKind.SERVICE and target.key is not None:
            state = await self._load_state((target.service, target.key))
        body = attempt.start_message(state, effect.idempotency_key)
        try:
            async with asyncio.timeout(self.settings.abort_timeout.total_seconds()):
                if is_bidi(deployment.manifest) and not deployment.use_http_11:
                    return await self._exchange_bidi(deployment, attempt, body, live)
                return await self._exchange(deployment, attempt, body)
        except TimeoutError:
            return attempt.failed(Failure(500, "the attempt exceeded the abort timeout"))

    async def _exchange_bidi(
        self, deployment: Deployment, attempt: RemoteAttempt, body: bytes, live: _Live
    ) -> Event:
        parts = urlsplit(deployment.uri)
        target = attempt.target
        path = f"{parts.path.rstrip('/')}/invoke/{target.service}/{target.handler}"
        media = content_type(attempt.version)
        headers = {**deployment.additional_headers, "content-type": media, "accept": media}
        try:
            stream = await self._h2.open(parts.hostname or "", parts.port or 80, path, headers)
        except H2Error as e:
            return attempt.failed(Failure(503, f"cannot reach the deployment: {e}"))
        inactivity_ms = self._inactivity_timeout_ms(target)
        if inactivity_ms is None:
            inactivity_ms = int(self.settings.inactivity_timeout.total_seconds() * 1000)
        return await run_bidi(stream, attempt, body, live.inbox, self._post, inactivity_ms / 1000)

    async def _exchange(self, deployment: Deployment, attempt: RemoteAttempt, body: bytes) -> Event:
        parts = urlsplit(deployment.uri)
        host, port = parts.hostname or "", parts.port or 80
        target = attempt.target
        path = f"{parts.path.rstrip('/')}/invoke/{target.service}/{target.handler}"
        media = content_type(attempt.version)
        headers = {**deployment.additional_headers, "content-type": media, "accept": media}
        try:
            if deployment.use_http_11:
                async with self._h1.post(host, port, path, headers, body) as response:
                    if response.status != 200:
                        return _refused(attempt, response.status, await response.read())
                    return await _read_messages(attempt, response.chunks())
            stream = await self._h2.open(host, port, path, headers)
            try:
                await stream.send(body)
                await stream.end()
                status, _ = await stream.headers()
                if status != 200:
                    return _refused(attempt, status, await _body(stream))
                return await _read_messages(attempt, _stream_chunks(stream))
            finally:
                stream.reset()
        except (H1Error, H2Error) as e:
            return attempt.failed(
                Failure(503, f"cannot reach the deployment at {deployment.uri}: {e}")
            )


async def _stream_chunks(stream: H2Stream) -> AsyncIterator[bytes]:
    while (chunk := await stream.receive()) is not None:
        yield chunk


async def _body(stream: H2Stream, limit: int = 4096) -> bytes:
    body = b""
    async for chunk in _stream_chunks(stream):
        body += chunk
        if len(body) >= limit:
            break
    return body[:limit]


def _refused(attempt: RemoteAttempt, status: int, body: bytes) -> Event:
    text = body[:500].decode(errors="replace")
    return attempt.failed(Failure(status, f"the deployment answered {status}: {text}"))


async def _read_messages(attempt: RemoteAttempt, chunks: AsyncIterator[bytes]) -> Event:
    """Feed the endpoint's messages to the attempt until one closes it; then read the body to
    its end, so the connection can be reused."""
    decoder = FrameDecoder()
    closed: Event | None = None
    try:
        async for chunk in chunks:
            if closed is not None:
                continue  # nothing may follow the end; drained for keep-alive
            for frame in decoder.feed(chunk):
                type_, message = decode(frame)
                closed = attempt.on_message(type_, message)
                if closed is not None:
                    break
    except FramingError as e:
        return attempt.failed(Failure(571, f"protocol violation: {e}"), keep_entries=False)
    if closed is not None:
        return closed
    return attempt.failed(
        Failure(500, "the deployment closed the stream without End, Suspension or Error")
    )
