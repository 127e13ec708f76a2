"""A bidirectional attempt over an HTTP/2 stream: the endpoint's messages and the engine's
durable entries flow at the same time.

Commands and run proposals are posted to the engine as they arrive; the entries the engine
appends come back (`EntriesAppended`) and their notifications are streamed to the endpoint: a
proposed `ctx.run` result is acknowledged only once it is durable. After the inactivity
timeout with no message either way, the request body is closed and the endpoint suspends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import msgspec

from wakeful.engine.effects import EntriesAppended
from wakeful.engine.events import AppendEntries, AttemptSuspended, Event
from wakeful.invoker.h2c import H2Error, H2Stream
from wakeful.invoker.remote_attempt import RemoteAttempt
from wakeful.journal.entries import CompletionNotification, Failure, SignalNotification
from wakeful.protocol.framing import FrameDecoder, FramingError
from wakeful.protocol.journal import notification_frame
from wakeful.protocol.messages import MessageType, decode, encode, pb

__all__ = ["run_bidi"]

_NOTIFICATIONS = (CompletionNotification, SignalNotification)


Item = EntriesAppended | bytes | BaseException | None  # engine entries, or the response's


async def _read(stream: H2Stream, out: asyncio.Queue[Item]) -> None:
    try:
        status, _ = await stream.headers()
        if status != 200:
            body = b""
            while (chunk := await stream.receive()) is not None:
                body += chunk
            text = body[:500].decode(errors="replace")
            out.put_nowait(H2Error(f"the deployment answered {status}: {text}"))
            return
        while (chunk := await stream.receive()) is not None:
            out.put_nowait(chunk)
        out.put_nowait(None)
    except H2Error as e:
        out.put_nowait(e)


async def run_bidi(
    stream: H2Stream,
    attempt: RemoteAttempt,
    start: bytes,
    inbox: asyncio.Queue[Item],
    post: Callable[[Event], None],
    inactivity_s: float,
) -> Event:
    """Drive one attempt over `stream` until the endpoint ends it; the closing event.

    `inbox` receives the engine's entries for this attempt; the response body joins them
    there, so one wait covers both directions.
    """
    reader = asyncio.get_running_loop().create_task(_read(stream, inbox))
    loop = _Bidi(stream, attempt, post)
    try:
        await stream.send(start)
        return await loop.run(inbox, inactivity_s)
    except H2Error as e:
        return attempt.failed(Failure(503, f"the stream to the deployment broke: {e}"))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if loop.input_open:
            with contextlib.suppress(H2Error):
                await stream.end()
        stream.reset()


class _Bidi:
    def __init__(self, stream: H2Stream, attempt: RemoteAttempt, post: Callable[[Event], None]):
        self.stream = stream
        self.attempt = attempt
        self.post = post
        self.input_open = True
        self.known = attempt.journal_length  # journal entries the endpoint knows of
        self.acks: dict[int, bool] = {}  # proposed run completion id -> ack requested
        self.decoder = FrameDecoder()

    async def run(self, inbox: asyncio.Queue[Item], inactivity_s: float) -> Event:
        while True:
            try:
                async with asyncio.timeout(inactivity_s if self.input_open else None):
                    item = await inbox.get()
            except TimeoutError:  # inactive: let the endpoint suspend
                self.input_open = False
                await self.stream.end()
                continue
            if isinstance(item, EntriesAppended):
                await self._deliver(item)
                continue
            closed = self._on_chunk(item)
            if closed is not None:
                return closed

    def _on_chunk(self, chunk: bytes | BaseException | None) -> Event | None:
        attempt = self.attempt
        if chunk is None:
            return attempt.failed(
                Failure(500, "the deployment closed the stream without End, Suspension or Error")
            )
        if isinstance(chunk, BaseException):
            return attempt.failed(Failure(503, str(chunk)))
        try:
            frames = self.decoder.feed(chunk)
            for frame in frames:
                type_, message = decode(frame)
                if type_ == MessageType.PROPOSE_RUN_COMPLETION:
                    self.acks[message.result_completion_id] = frame.requested_ack
                closed = attempt.on_message(type_, message)
                if closed is not None:
                    return self._closing(closed)
                entries = attempt.take_pending()
                if entries:
                    self.known += sum(1 for e in entries if not isinstance(e, _NOTIFICATIONS))
                    post = AppendEntries(
                        attempt.invocation_id, attempt.attempt, entries, attempt.clock.now_ms()
                    )
                    self.post(post)
        except FramingError as e:
            return attempt.failed(Failure(571, f"protocol violation: {e}"), keep_entries=False)
        return None

    def _closing(self, closed: Event) -> Event:
        if isinstance(closed, AttemptSuspended) and closed.known_length >= 0:
            return msgspec.structs.replace(closed, known_length=self.known)
        return closed

    async def _deliver(self, effect: EntriesAppended) -> None:
        frames: list[bytes] = []
        kinds = self.attempt.ctx.completion_kinds
        for offset, entry in enumerate(effect.entries):
            if effect.first_index + offset < self.attempt.journal_length:
                continue  # already in the journal the stream started with
            if not isinstance(entry, _NOTIFICATIONS) or not self.input_open:
                continue  # its own commands; or the endpoint can no longer be told
            cid = entry.completion_id if isinstance(entry, CompletionNotification) else None
            if cid is not None and self.acks.pop(cid, False):  # the ack stands for the result
                ack = pb.ProposeRunCompletionAckMessage(completion_id=cid)
                frames.append(encode(MessageType.PROPOSE_RUN_COMPLETION_ACK, ack))
                self.known += 1
                continue
            frames.append(notification_frame(entry, kinds))
            self.known += 1
        if frames:
            await self.stream.send(b"".join(frames))
