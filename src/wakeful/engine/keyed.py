"""Virtual object keys: one exclusive invocation at a time, the others queued in arrival order.

An exclusive invocation that finds its key locked is appended to the key's inbox (status
INBOXED). When the lock holder ends, the lock passes straight to the inbox head; a key never
becomes free while its inbox holds someone, so arrival order is kept.
"""

from __future__ import annotations

from wakeful.engine.applied import Applied
from wakeful.engine.effects import StartAttempt
from wakeful.engine.events import StartInboxed, StartInvocation
from wakeful.engine.model import HandlerKind, Invocation, ObjectKey, ObjectRecord, Status
from wakeful.engine.state import INBOX_UNKNOWN, PartitionState
from wakeful.journal.entries import Entry
from wakeful.journal.ids import InvocationId

__all__ = ["admit", "leave_inbox", "object_key", "release", "start_inboxed"]


def object_key(inv: Invocation) -> ObjectKey:
    """The (service, key) an invocation belongs to."""
    assert inv.target.key is not None, "a keyed invocation has a key"
    return inv.target.service, inv.target.key


def admit(
    state: PartitionState,
    iid: InvocationId,
    inv: Invocation,
    out: Applied,
    journal: list[Entry] | None,
) -> None:
    """Start `inv` now, or queue it behind its key's lock."""
    if inv.kind == HandlerKind.EXCLUSIVE:
        key = object_key(inv)
        record = state.object(key) or ObjectRecord()
        if (record.locked_by is not None and record.locked_by != iid.to_bytes()) or (
            record.draining
        ):
            inv.status = Status.INBOXED
            inv.inbox_seq = record.next_seq
            state.inbox_push(key, record.next_seq, iid)
            record.next_seq += 1
            state.put_object(key, record)
            return
        record.locked_by = iid.to_bytes()
        state.put_object(key, record)
    inv.status = Status.RUNNING
    inv.inbox_seq = None
    inv.attempt += 1
    out.effects.append(StartAttempt(iid, inv.attempt, inv.target, journal, inv.idempotency_key))


def leave_inbox(state: PartitionState, inv: Invocation) -> None:
    """Take a queued invocation out of its key's inbox (it was cancelled or killed)."""
    if inv.inbox_seq is not None:
        state.inbox_remove(object_key(inv), inv.inbox_seq)
        inv.inbox_seq = None


def release(
    state: PartitionState, iid: InvocationId, inv: Invocation, now_ms: int, out: Applied
) -> None:
    """The lock holder ended: pass the lock to the inbox head."""
    if inv.kind != HandlerKind.EXCLUSIVE:
        return
    key = object_key(inv)
    record = state.object(key)
    if record is None or record.locked_by != iid.to_bytes():
        return
    record.locked_by = None
    record.draining = True
    state.put_object(key, record)
    _hand_over(state, key, record, now_ms, out)


def start_inboxed(state: PartitionState, event: StartInboxed, out: Applied) -> bool:
    """Retry a hand-over that the previous batch could not decide."""
    key = (event.service, event.key)
    record = state.object(key)
    if record is None or not record.draining:
        return False
    return _hand_over(state, key, record, event.now_ms, out)


def _hand_over(
    state: PartitionState, key: ObjectKey, record: ObjectRecord, now_ms: int, out: Applied
) -> bool:
    head = state.inbox_head(key)
    if head is INBOX_UNKNOWN:
        out.deferred.append(StartInboxed(key[0], key[1], now_ms))  # load it after this batch
        return False
    record.draining = False
    if head is None:
        state.put_object(key, record)
        return True
    assert isinstance(head, tuple)
    seq, next_iid = head
    state.inbox_remove(key, seq)
    record.locked_by = next_iid.to_bytes()
    state.put_object(key, record)
    out.follow_ups.append(StartInvocation(next_iid, now_ms))
    return True
