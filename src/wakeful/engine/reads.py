"""Which keyed rows an event will read, so the runtime can load them before applying it.

The engine never performs I/O: the partition leader loads the invocation records an event
touches, asks `reads_for` what else it needs (object locks, inbox heads, promises), loads
that, and only then applies the event.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from wakeful.engine.commands import promise_key
from wakeful.engine.events import (
    AppendEntries,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Cancel,
    CompletePromise,
    Event,
    Invoke,
    Kill,
    PurgeExpired,
    StartInboxed,
    StartInvocation,
    TimerFired,
)
from wakeful.engine.model import HandlerKind, Invocation, ObjectKey, PromiseKey
from wakeful.journal.entries import CompletePromiseCommand, GetPromiseCommand, PeekPromiseCommand
from wakeful.journal.ids import InvocationId

__all__ = ["Reads", "invocations_touched", "reads_for"]

_RELEASES = (AttemptCompleted, AttemptFailed, Kill, Cancel)  # events that may end a holder
_PROMISE_COMMANDS = (GetPromiseCommand, PeekPromiseCommand, CompletePromiseCommand)


class Reads(msgspec.Struct):
    """Keyed rows to load before applying an event."""

    objects: set[ObjectKey] = msgspec.field(default_factory=set)
    inbox_heads: set[ObjectKey] = msgspec.field(default_factory=set)
    promises: set[PromiseKey] = msgspec.field(default_factory=set)


def invocations_touched(event: Event) -> tuple[InvocationId, ...]:
    """The invocation records an event reads."""
    if isinstance(event, TimerFired):
        return (event.timer.invocation_id,)
    if isinstance(event, PurgeExpired):
        return tuple(event.invocation_ids)
    if isinstance(event, StartInboxed | CompletePromise) or (
        isinstance(event, Invoke) and event.fresh
    ):
        return ()
    return (event.invocation_id,)


def reads_for(
    event: Event,
    invocation: Callable[[InvocationId], Invocation | None],
    into: Reads | None = None,
) -> Reads:
    """The keyed rows `event` reads, given the invocation records already loaded.

    They are added to `into` when given (the reads of a whole batch), else to a new `Reads`.
    """
    reads = Reads() if into is None else into
    if isinstance(event, CompletePromise):
        reads.promises.add((event.service, event.key, event.name))
        return reads
    if isinstance(event, StartInboxed):
        key = (event.service, event.key)
        reads.objects.add(key)
        reads.inbox_heads.add(key)
        return reads
    if isinstance(event, Invoke):
        if event.kind == HandlerKind.EXCLUSIVE and event.target.key is not None:
            reads.objects.add((event.target.service, event.target.key))
        return reads
    for iid in invocations_touched(event):
        inv = invocation(iid)
        if inv is None:
            continue
        if inv.kind == HandlerKind.EXCLUSIVE and inv.target.key is not None:
            key = (inv.target.service, inv.target.key)
            if isinstance(event, (*_RELEASES, StartInvocation, TimerFired)):
                reads.objects.add(key)
            if isinstance(event, _RELEASES):
                reads.inbox_heads.add(key)
        if isinstance(event, AppendEntries | AttemptSuspended | AttemptCompleted | AttemptFailed):
            for entry in event.entries:
                if isinstance(entry, _PROMISE_COMMANDS):
                    reads.promises.add(promise_key(inv, entry.name))
    return reads
