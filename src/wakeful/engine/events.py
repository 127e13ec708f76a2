"""Events the engine applies, and the outcomes it answers their submitters with.

Time arrives in events (`now_ms`): the state machine never reads the clock.
"""

from __future__ import annotations

import msgspec

from wakeful.engine.model import HandlerKind, Status, Target, Timer, Waiting
from wakeful.journal.entries import Entry, Failure, Result
from wakeful.journal.ids import InvocationId

__all__ = [
    "AddCaller",
    "AppendEntries",
    "Attach",
    "AttemptCompleted",
    "AttemptFailed",
    "AttemptSuspended",
    "Cancel",
    "CompletePromise",
    "DeliverCompletion",
    "DeliverSignal",
    "Event",
    "Invoke",
    "InvokeOutcome",
    "Kill",
    "LookupOutcome",
    "Purge",
    "PurgeExpired",
    "RecoverInvocation",
    "ResumeInvocation",
    "StartInboxed",
    "StartInvocation",
    "TimerFired",
]


class Invoke(msgspec.Struct, frozen=True):
    """Create an invocation, or find the existing one with the same (deterministic) id."""

    invocation_id: InvocationId
    target: Target
    input: bytes
    headers: list[tuple[str, str]]
    now_ms: int
    idempotency_key: str | None = None
    kind: HandlerKind = HandlerKind.SERVICE
    caller: tuple[InvocationId, int] | None = None  # who gets the result as a completion
    invoke_at_ms: int | None = None  # a delayed send starts then
    fresh: bool = False  # the id is random: no stored invocation can have it (skip the read)


class Attach(msgspec.Struct, frozen=True):
    """Look up an invocation's status and result (attach and output requests)."""

    invocation_id: InvocationId


class AppendEntries(msgspec.Struct, frozen=True):
    """A running attempt journals new entries (commands, run completions)."""

    invocation_id: InvocationId
    attempt: int
    entries: list[Entry]
    now_ms: int


class AttemptSuspended(msgspec.Struct, frozen=True):
    """An attempt ends waiting on `waiting`; it had seen `known_length` journal entries."""

    invocation_id: InvocationId
    attempt: int
    entries: list[Entry]
    waiting: Waiting
    known_length: int
    now_ms: int


class AttemptCompleted(msgspec.Struct, frozen=True):
    """An attempt returned (success) or raised a TerminalError (failure)."""

    invocation_id: InvocationId
    attempt: int
    entries: list[Entry]
    result: Result
    now_ms: int


class AttemptFailed(msgspec.Struct, frozen=True):
    """An attempt failed with a retryable error."""

    invocation_id: InvocationId
    attempt: int
    entries: list[Entry]
    failure: Failure
    now_ms: int
    retry_after_ms: int | None = None


class DeliverSignal(msgspec.Struct, frozen=True):
    """Deliver signal `index` (an awakeable completion) to an invocation."""

    invocation_id: InvocationId
    index: int
    result: Result
    now_ms: int


class CompletePromise(msgspec.Struct, frozen=True):
    """Complete a workflow's awaited durable promise from outside (a link, the inbox)."""

    service: str
    key: str
    name: str
    result: Result
    now_ms: int


class DeliverCompletion(msgspec.Struct, frozen=True):
    """Deliver the result of a command to the invocation that made it."""

    invocation_id: InvocationId
    completion_id: int
    result: Result
    now_ms: int


class AddCaller(msgspec.Struct, frozen=True):
    """`caller` waits for this invocation's result (attach_invocation from a handler)."""

    invocation_id: InvocationId
    caller: tuple[InvocationId, int]
    now_ms: int


class Cancel(msgspec.Struct, frozen=True):
    """Cancel an invocation: its handler gets a TerminalError (409) at its next await."""

    invocation_id: InvocationId
    now_ms: int


class Kill(msgspec.Struct, frozen=True):
    """End an invocation at once with 409 `killed`; no compensation runs."""

    invocation_id: InvocationId
    now_ms: int


class Purge(msgspec.Struct, frozen=True):
    """Delete a completed invocation now (admin)."""

    invocation_id: InvocationId
    now_ms: int


class StartInboxed(msgspec.Struct, frozen=True):
    """A virtual object key was released: hand its lock to the next queued invocation."""

    service: str
    key: str
    now_ms: int


class StartInvocation(msgspec.Struct, frozen=True):
    """Start an invocation that waited (in an inbox, or for its scheduled time)."""

    invocation_id: InvocationId
    now_ms: int


class TimerFired(msgspec.Struct, frozen=True):
    """A durable timer came due."""

    timer: Timer
    now_ms: int


class ResumeInvocation(msgspec.Struct, frozen=True):
    """Resume a paused invocation (retries start over)."""

    invocation_id: InvocationId
    now_ms: int


class RecoverInvocation(msgspec.Struct, frozen=True):
    """After a restart: start a new attempt for an invocation that was running."""

    invocation_id: InvocationId
    now_ms: int


class PurgeExpired(msgspec.Struct, frozen=True):
    """Delete completed invocations whose retention has expired."""

    invocation_ids: list[InvocationId]
    now_ms: int


Event = (
    Invoke
    | Attach
    | AppendEntries
    | AttemptSuspended
    | AttemptCompleted
    | AttemptFailed
    | DeliverSignal
    | CompletePromise
    | DeliverCompletion
    | AddCaller
    | Cancel
    | Kill
    | Purge
    | StartInboxed
    | StartInvocation
    | TimerFired
    | ResumeInvocation
    | RecoverInvocation
    | PurgeExpired
)


class InvokeOutcome(msgspec.Struct, frozen=True):
    """Answer to `Invoke`: whether it was created, and its status/result if it existed."""

    invocation_id: InvocationId
    created: bool
    status: Status
    result: Result | None = None
    expires_at_ms: int | None = None


class LookupOutcome(msgspec.Struct, frozen=True):
    """Answer to `Attach` and to lifecycle requests: the status, or None if unknown."""

    status: Status | None
    result: Result | None = None
    expires_at_ms: int | None = None
