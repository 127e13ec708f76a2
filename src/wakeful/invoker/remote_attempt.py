"""One attempt on a remote deployment, without I/O: the messages the endpoint sends in, the
engine events out.

The endpoint's commands become journal entries (`protocol.journal`); a `ctx.run` result it
proposes becomes a completion notification; its closing message (End, Suspension, Error)
becomes AttemptCompleted, AttemptSuspended or AttemptFailed carrying every entry not yet
posted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.engine.events import (
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Event,
)
from wakeful.engine.model import HandlerKind, Target, Waiting
from wakeful.journal.entries import (
    CompletionNotification,
    Entry,
    Failure,
    Result,
    SignalNotification,
)
from wakeful.journal.ids import CANCEL_SIGNAL, InvocationId
from wakeful.protocol.journal import (
    CommandContext,
    ProtocolViolation,
    Unsupported,
    encode_journal,
    entries_of_command,
    result_of,
)
from wakeful.protocol.messages import MessageType, encode, pb

__all__ = ["RemoteAttempt", "random_seed", "waiting_of"]

M = MessageType


def random_seed(invocation_id: InvocationId) -> int:
    """A seed for the endpoint's deterministic random, stable across attempts."""
    return int.from_bytes(hashlib.sha256(invocation_id.to_bytes()).digest()[:8], "big")


def _leaves(future: Any, completions: set[int], signals: set[int], names: set[str]) -> None:
    completions.update(future.waiting_completions)
    signals.update(future.waiting_signals)
    names.update(future.waiting_named_signals)
    for nested in future.nested_futures:
        _leaves(nested, completions, signals, names)


def waiting_of(message: Any, version: int) -> Waiting:
    """What a SuspensionMessage waits on, as the engine's Waiting.

    A v7 tree is flattened: waking on any leaf is always safe (an endpoint that cannot go on
    yet suspends again), so only a flat ALL_COMPLETED keeps "all of" semantics.
    """
    completions: set[int] = set()
    signals: set[int] = set()
    names: set[str] = set()
    all_of = False
    if version >= 7 and message.HasField("awaiting_on"):
        future = message.awaiting_on
        _leaves(future, completions, signals, names)
        all_of = future.combinator_type == pb.ALL_COMPLETED and not future.nested_futures
    else:
        completions.update(message.waiting_completions)
        signals.update(message.waiting_signals)
        names.update(message.waiting_named_signals)
    if names:
        raise Unsupported("waiting on named signals is not supported by wakeful yet")
    signals.add(CANCEL_SIGNAL)
    return Waiting(tuple(sorted(completions)), tuple(sorted(signals)), all_of)


class RemoteAttempt:
    """The translation state of one attempt: what it has produced, how it ended."""

    def __init__(
        self,
        invocation_id: InvocationId,
        attempt: int,
        target: Target,
        journal: list[Entry],
        version: int,
        handler_kind: Callable[[Target], HandlerKind | None],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.invocation_id = invocation_id
        self.attempt = attempt
        self.target = target
        self.journal_length = len(journal)
        self.version = version
        self.frames, kinds = encode_journal(journal)
        commands = sum(
            1 for e in journal if not isinstance(e, CompletionNotification | SignalNotification)
        )
        self.ctx = CommandContext(invocation_id, handler_kind, commands, kinds)
        self.pending: list[Entry] = []
        self.output: Result | None = None
        self.closed: Event | None = None

    def start_message(self, state: dict[str, bytes] | None, idempotency_key: str | None) -> bytes:
        """The framed StartMessage followed by the journal's messages."""
        start = pb.StartMessage(
            id=self.invocation_id.to_bytes(),
            debug_id=str(self.invocation_id),
            known_entries=len(self.frames),
            key=self.target.key or "",
            state_map=[
                pb.StartMessage.StateEntry(key=k.encode(), value=v)
                for k, v in (state or {}).items()
            ],
            partial_state=False,
        )
        if self.version >= 6:
            start.random_seed = random_seed(self.invocation_id)
        if self.version >= 7 and idempotency_key is not None:
            start.idempotency_key = idempotency_key
        return encode(M.START, start) + b"".join(self.frames)

    def take_pending(self) -> list[Entry]:
        """The entries produced since the last call (to post them now)."""
        entries, self.pending = self.pending, []
        return entries

    def on_message(self, type_: MessageType, msg: Any) -> Event | None:
        """Take one message from the endpoint; the closing event once it has ended."""
        if self.closed is not None:
            raise ProtocolViolation(f"{type_.name} after the end of the stream")
        try:
            self.closed = self._on_message(type_, msg)
        except ProtocolViolation as e:  # retried, like Restate does with code 571
            self.closed = self.failed(Failure(e.code, str(e)), keep_entries=False)
        except Unsupported as e:  # retrying cannot help: the invocation fails (as in-process)
            result = Result(failure=Failure(e.code, str(e)))
            self.closed = AttemptCompleted(
                self.invocation_id, self.attempt, [], result, self.clock.now_ms()
            )
        return self.closed

    def _on_message(self, type_: MessageType, msg: Any) -> Event | None:
        if type_.is_command:
            if type_ == M.OUTPUT:
                self.output = result_of(msg)
                return None
            self.pending += entries_of_command(type_, msg, self.ctx)
            return None
        match type_:
            case M.PROPOSE_RUN_COMPLETION:
                self.pending.append(
                    CompletionNotification(msg.result_completion_id, result_of(msg))
                )
                return None
            case M.AWAITING_ON | M.COMMAND_ACK:
                return None
            case M.END:
                if self.output is None:
                    raise ProtocolViolation("the endpoint ended without an output")
                return AttemptCompleted(
                    self.invocation_id, self.attempt, self.pending, self.output, self.clock.now_ms()
                )
            case M.SUSPENSION:
                return self._suspended(waiting_of(msg, self.version))
            case M.ERROR:
                return self._error(msg)
        raise ProtocolViolation(f"unexpected message {type_.name} from the endpoint")

    def _suspended(self, waiting: Waiting) -> Event:
        # Completions it proposed itself (run results) or that the journal records for it
        # (invocation ids of its calls) are durable only with this event: an await on them
        # must go straight on with a new attempt, which the engine does when it believes the
        # attempt missed entries.
        own = {e.completion_id for e in self.pending if isinstance(e, CompletionNotification)}
        known = -1 if own.intersection(waiting.completion_ids) else self.journal_length
        return AttemptSuspended(
            self.invocation_id, self.attempt, self.pending, waiting, known, self.clock.now_ms()
        )

    def _error(self, msg: Any) -> Event:
        failure = Failure(msg.code or 500, msg.message or "the endpoint reported an error")
        keep = msg.code not in (570, 571)  # a journal that does not replay: keep nothing new
        if self.version >= 7 and msg.behavior == pb.FAIL:
            result = Result(failure=failure)
            entries = self.pending if keep else []
            return AttemptCompleted(
                self.invocation_id, self.attempt, entries, result, self.clock.now_ms()
            )
        retry_after = msg.next_retry_delay if msg.HasField("next_retry_delay") else None
        return self.failed(failure, keep_entries=keep, retry_after_ms=retry_after)

    def failed(
        self, failure: Failure, *, keep_entries: bool = True, retry_after_ms: int | None = None
    ) -> AttemptFailed:
        """The attempt failed (its stream broke, or it reported an error)."""
        entries = self.pending if keep_entries else []
        return AttemptFailed(
            self.invocation_id, self.attempt, entries, failure, self.clock.now_ms(), retry_after_ms
        )
