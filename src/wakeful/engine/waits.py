"""Pending waits: the awakeables and promises a handler waits on, indexed as they are created.

The engine keeps one row per awakeable (and per awaited workflow promise) in the same batch as
the command that creates it, and updates it when it is completed, when its invocation ends
(closed) and when the handler suspends racing it against a durable timer (the deadline). The
admin API lists pending waits from these rows alone, never scanning invocations.

Deliveries of awakeable signals are checked here too: an index the invocation never created is
refused, and a second delivery is told apart as a duplicate (same result) or a conflict.
"""

from __future__ import annotations

import enum
import hashlib

import msgspec

from wakeful.engine.model import Invocation, Status, Waiting
from wakeful.journal.entries import AwakeableCommand, GetPromiseCommand, Result
from wakeful.journal.ids import FIRST_AWAKEABLE_SIGNAL, AwakeableId, InvocationId

__all__ = [
    "Delivery",
    "SignalOutcome",
    "WaitKind",
    "WaitRow",
    "WaitStatus",
    "check_signal",
    "deadline_of",
    "promise_wait_id",
    "result_digest",
]


class WaitKind(enum.IntEnum):
    """What a pending wait is."""

    AWAKEABLE = 0
    PROMISE = 1


class WaitStatus(enum.IntEnum):
    """Where a wait stands."""

    PENDING = 0
    COMPLETED = 1
    CLOSED = 2  # its invocation ended before anyone completed it

    @property
    def label(self) -> str:
        """The status as the admin API spells it."""
        return self.name.lower()


class WaitRow(msgspec.Struct):
    """One awakeable or awaited promise, as listed by the admin API."""

    wait_id: str  # the awakeable id, or `Workflow/key/name` for a promise
    kind: WaitKind
    invocation_id: bytes
    handle: int  # signal index (awakeable) or completion id (promise) in that invocation
    target: str
    service: str
    created_at_ms: int
    description: str | None = None
    schema: bytes | None = None
    deadline_ms: int | None = None
    status: WaitStatus = WaitStatus.PENDING
    completed_at_ms: int | None = None
    result: Result | None = None


class Delivery(enum.Enum):
    """What delivering an awakeable's completion did."""

    APPLIED = "applied"  # it was pending; now it is completed
    DUPLICATE = "duplicate"  # completed before with the same result: nothing changed
    CONFLICT = "conflict"  # completed before with another result: nothing changed
    UNKNOWN = "unknown"  # no such invocation (never existed, or purged)
    CLOSED = "closed"  # the invocation ended: nobody will ever read it
    NOT_CREATED = "not_created"  # the invocation never created an awakeable with this index


class SignalOutcome(msgspec.Struct, frozen=True):
    """Answer to `DeliverSignal`: what happened, and when the stored completion was made."""

    delivery: Delivery
    completed_at_ms: int | None = None


_encode = msgspec.msgpack.Encoder().encode


def result_digest(result: Result) -> bytes:
    """A short digest telling results apart (duplicate vs conflicting deliveries)."""
    return hashlib.blake2b(_encode(result), digest_size=16).digest()


def promise_wait_id(service: str, key: str, name: str) -> str:
    """The id of a workflow promise's wait row."""
    return f"{service}/{key}/{name}"


def check_signal(inv: Invocation | None, index: int, result: Result) -> SignalOutcome | None:
    """The outcome of delivering signal `index` if it must not be applied, else None."""
    if inv is None:
        return SignalOutcome(Delivery.UNKNOWN)
    if index < FIRST_AWAKEABLE_SIGNAL:
        return SignalOutcome(Delivery.NOT_CREATED)  # built-in signals are never awakeables
    done = inv.signals_done.get(index)
    if done is not None:
        same = done[1] == result_digest(result)
        return SignalOutcome(Delivery.DUPLICATE if same else Delivery.CONFLICT, done[0])
    if inv.awakeables is not None and index >= FIRST_AWAKEABLE_SIGNAL + inv.awakeables:
        return SignalOutcome(Delivery.NOT_CREATED)
    if inv.status == Status.COMPLETED:
        return SignalOutcome(Delivery.CLOSED)
    return None


def awakeable_row(
    iid: InvocationId, inv: Invocation, command: AwakeableCommand, now_ms: int
) -> WaitRow:
    """The wait row of an awakeable the handler just created."""
    return WaitRow(
        wait_id=str(AwakeableId(iid, command.signal_index)),
        kind=WaitKind.AWAKEABLE,
        invocation_id=iid.to_bytes(),
        handle=command.signal_index,
        target=str(inv.target),
        service=inv.target.service,
        created_at_ms=now_ms,
        description=command.description,
        schema=command.schema,
    )


def promise_row(
    iid: InvocationId, inv: Invocation, command: GetPromiseCommand, now_ms: int
) -> WaitRow:
    """The wait row of a workflow promise a handler awaits that is not completed yet."""
    service, key = inv.target.service, inv.target.key or ""
    return WaitRow(
        wait_id=promise_wait_id(service, key, command.name),
        kind=WaitKind.PROMISE,
        invocation_id=iid.to_bytes(),
        handle=command.completion_id,
        target=str(inv.target),
        service=service,
        created_at_ms=now_ms,
        description=command.description,
        schema=command.schema,
    )


def deadline_of(inv: Invocation, waiting: Waiting) -> int | None:
    """When a durable timer the handler races against its waits fires (None: no such race)."""
    if waiting.all_of:
        return None
    dues = [inv.sleeps[c] for c in waiting.completion_ids if c in inv.sleeps]
    return min(dues) if dues else None
