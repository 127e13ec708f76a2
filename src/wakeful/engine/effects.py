"""Effects the engine asks the runtime to carry out once the batch that made them is durable."""

from __future__ import annotations

import msgspec

from wakeful.engine.model import Target
from wakeful.journal.entries import Entry, Result
from wakeful.journal.ids import InvocationId

__all__ = [
    "AbortAttempt",
    "Effect",
    "EntriesAppended",
    "InvocationFinished",
    "StartAttempt",
    "TimerScheduled",
]


class StartAttempt(msgspec.Struct, frozen=True):
    """Run attempt `attempt`; `journal` is given when the engine knows it whole (new invocation)."""

    invocation_id: InvocationId
    attempt: int
    target: Target
    journal: list[Entry] | None = None
    idempotency_key: str | None = None


class AbortAttempt(msgspec.Struct, frozen=True):
    """Stop the running attempt, if any (it has been fenced off)."""

    invocation_id: InvocationId


class EntriesAppended(msgspec.Struct, frozen=True):
    """Entries were appended to a journal at `first_index`; a live attempt consumes them."""

    invocation_id: InvocationId
    attempt: int
    first_index: int
    entries: list[Entry]


class InvocationFinished(msgspec.Struct, frozen=True):
    """The invocation completed with `result`: answer whoever is attached."""

    invocation_id: InvocationId
    result: Result
    expires_at_ms: int | None = None


class TimerScheduled(msgspec.Struct, frozen=True):
    """A durable timer was stored; the timer service may need to wake earlier."""

    due_ms: int


Effect = StartAttempt | AbortAttempt | EntriesAppended | InvocationFinished | TimerScheduled
