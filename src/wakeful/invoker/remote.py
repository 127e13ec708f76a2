"""Runs attempts on remote deployments over Restate's service protocol.

Each attempt POSTs `{uri}/invoke/{service}/{handler}` with the StartMessage and the journal,
then reads the endpoint's messages until it ends (End, Suspension or Error). The request body
is complete before the answer is read (request/response, over HTTP/1.1 for `use_http_11`
deployments and over HTTP/2 cleartext otherwise): the endpoint sees its input closed, so it
suspends at the first await that the journal cannot answer, and the invocation then waits with
nothing held until a notification wakes it. The entries an attempt produces are posted to the
engine with the event that closes it, in one batch.

An invocation stays on the deployment its first attempt ran on (pinning), as in Restate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.deployments.model import Deployment
from wakeful.deployments.registry import Deployments
from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.engine.events import AttemptFailed, Event
from wakeful.engine.model import HandlerKind, ObjectKey, Target
from wakeful.invoker.remote_attempt import RemoteAttempt
from wakeful.journal.entries import Entry, Failure
from wakeful.journal.ids import InvocationId
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
        self._live: dict[InvocationId, tuple[int, asyncio.Task[None]]] = {}
        self._clients: dict[bool, httpx.AsyncClient] = {}

    @property
    def running(self) -> int:
        """How many remote attempts are in flight."""
        return len(self._live)

    def start(self, effect: StartAttempt) -> None:
        """Start an attempt (the engine already made it the current one)."""
        task = asyncio.get_running_loop().create_task(self._run(effect))
        previous = self._live.get(effect.invocation_id)
        if previous is not None:
            previous[1].cancel()
        self._live[effect.invocation_id] = (effect.attempt, task)

    def deliver(self, effect: EntriesAppended) -> None:
        """Entries appended while an attempt runs: it ends and a new attempt sees them."""
        del effect  # request/response: the endpoint's input is closed already

    def abort(self, invocation_id: InvocationId) -> None:
        """Stop a live attempt, if there is one."""
        live = self._live.pop(invocation_id, None)
        if live is not None:
            live[1].cancel()

    def abort_all(self) -> None:
        """Stop every live attempt (their invocations are recovered)."""
        for invocation_id in list(self._live):
            self.abort(invocation_id)

    async def close(self) -> None:
        """Abort every attempt and close the connections."""
        tasks = [task for _, task in self._live.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def _client(self, use_http_11: bool) -> httpx.AsyncClient:
        client = self._clients.get(use_http_11)
        if client is None:
            timeout = httpx.Timeout(None, connect=self.settings.connect_timeout.total_seconds())
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
            if use_http_11:
                client = httpx.AsyncClient(timeout=timeout, limits=limits)
            else:
                client = httpx.AsyncClient(http1=False, http2=True, timeout=timeout, limits=limits)
            self._clients[use_http_11] = client
        return client

    async def _deployment(self, effect: StartAttempt, first: bool) -> Deployment | None:
        iid = effect.invocation_id.to_bytes()
        store = self.deployments.store
        pinned = await store.pinned(iid)
        if pinned is not None and pinned in self.deployments.deployments:
            return self.deployments.deployments[pinned]
        deployment = self.deployments.serving(effect.target.service)
        if deployment is not None and first:
            await store.pin(iid, deployment.id)
        return deployment

    async def _run(self, effect: StartAttempt) -> None:
        iid = effect.invocation_id
        try:
            self._post(await self._attempt(effect))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # never lose an attempt: the engine retries it
            log.exception("invocation %s: remote attempt %d crashed", iid, effect.attempt)
            failure = Failure(500, repr(e))
            self._post(AttemptFailed(iid, effect.attempt, [], failure, self.clock.now_ms()))
        finally:
            live = self._live.get(iid)
            if live is not None and live[0] == effect.attempt:
                del self._live[iid]

    async def _attempt(self, effect: StartAttempt) -> Event:
        iid, target = effect.invocation_id, effect.target
        journal = effect.journal
        if journal is None:
            journal = await self._load_journal(iid)
        deployment = await self._deployment(effect, first=len(journal) <= 1)
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
                return await self._exchange(deployment, attempt, body)
        except TimeoutError:
            return attempt.failed(Failure(500, "the attempt exceeded the abort timeout"))

    async def _exchange(self, deployment: Deployment, attempt: RemoteAttempt, body: bytes) -> Event:
        target = attempt.target
        url = f"{deployment.uri.rstrip('/')}/invoke/{target.service}/{target.handler}"
        media = content_type(attempt.version)
        headers = {**deployment.additional_headers, "content-type": media, "accept": media}
        client = self._client(deployment.use_http_11)
        decoder = FrameDecoder()
        try:
            async with client.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    text = (await response.aread())[:500].decode(errors="replace")
                    return attempt.failed(
                        Failure(
                            response.status_code,
                            f"the deployment answered {response.status_code}: {text}",
                        )
                    )
                async for chunk in response.aiter_raw():
                    for frame in decoder.feed(chunk):
                        type_, message = decode(frame)
                        closed = attempt.on_message(type_, message)
                        if closed is not None:
                            return closed
        except FramingError as e:
            return attempt.failed(Failure(571, f"protocol violation: {e}"), keep_entries=False)
        except httpx.HTTPError as e:
            return attempt.failed(
                Failure(503, f"cannot reach the deployment at {url}: {type(e).__name__}: {e}")
            )
        return attempt.failed(
            Failure(500, "the deployment closed the stream without End, Suspension or Error")
        )
