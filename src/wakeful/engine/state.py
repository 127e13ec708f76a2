"""The state the engine reads and writes, as a narrow protocol, with an in-memory implementation."""

from __future__ import annotations

from typing import Final, Protocol

from wakeful.engine.model import (
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseKey,
    PromiseRecord,
    Timer,
)
from wakeful.engine.waits import WaitKind, WaitRow, WaitStatus
from wakeful.journal.entries import Entry, Result
from wakeful.journal.ids import InvocationId

__all__ = ["INBOX_UNKNOWN", "InboxHead", "MemoryState", "PartitionState"]


class _Unknown:
    def __repr__(self) -> str:
        return "INBOX_UNKNOWN"


INBOX_UNKNOWN: Final = _Unknown()
"""The inbox head cannot be told from what was loaded: try again in the next batch."""

InboxHead = tuple[int, InvocationId] | None | _Unknown


class PartitionState(Protocol):
    """One partition's state as the engine sees it while applying an event."""

    def invocation(self, invocation_id: InvocationId) -> Invocation | None:
        """The invocation record, or None if unknown."""

    def put_invocation(self, invocation_id: InvocationId, invocation: Invocation) -> None:
        """Create or replace an invocation record."""

    def append(self, invocation_id: InvocationId, index: int, entry: Entry) -> None:
        """Append `entry` at `index` of the invocation's journal."""

    def add_timer(self, timer: Timer) -> None:
        """Store a durable timer."""

    def remove_timer(self, timer: Timer) -> None:
        """Delete a durable timer (no error if absent)."""

    def delete_invocation(self, invocation_id: InvocationId) -> None:
        """Delete an invocation with its journal."""

    def object(self, key: ObjectKey) -> ObjectRecord | None:
        """A virtual object key's lock record (None: never locked)."""

    def put_object(self, key: ObjectKey, record: ObjectRecord) -> None:
        """Store a lock record."""

    def inbox_head(self, key: ObjectKey) -> InboxHead:
        """The first queued invocation of a key: (seq, id), None if empty, or INBOX_UNKNOWN."""

    def inbox_push(self, key: ObjectKey, seq: int, invocation_id: InvocationId) -> None:
        """Queue an invocation behind a key's lock."""

    def inbox_remove(self, key: ObjectKey, seq: int) -> None:
        """Take an entry out of a key's inbox."""

    def set_state(self, key: ObjectKey, name: str, value: bytes | None) -> None:
        """Write (or, with None, delete) one state value of a key."""

    def clear_state(self, key: ObjectKey) -> None:
        """Delete all state values of a key."""

    def promise(self, key: PromiseKey) -> PromiseRecord | None:
        """A workflow's durable promise (None: nobody touched it yet)."""

    def put_promise(self, key: PromiseKey, record: PromiseRecord) -> None:
        """Store a durable promise."""

    def clear_promises(self, key: ObjectKey) -> None:
        """Delete every promise of a workflow key."""

    def put_wait(self, row: WaitRow) -> None:
        """Index a new pending wait (an existing row with the same id is kept)."""

    def complete_wait(self, wait_id: str, now_ms: int, result: Result) -> None:
        """Mark a pending wait completed (no change if absent or not pending)."""

    def close_waits(self, invocation_id: InvocationId) -> None:
        """Mark every pending wait of an invocation closed (it ended)."""

    def set_deadline(
        self,
        invocation_id: InvocationId,
        signal_indexes: tuple[int, ...],
        completion_ids: tuple[int, ...],
        deadline_ms: int | None,
    ) -> None:
        """Set the deadline of the invocation's pending waits it now suspends on."""


class MemoryState:
    """PartitionState in plain dicts: the engine's unit tests run against it."""

    def __init__(self) -> None:
        self.invocations: dict[InvocationId, Invocation] = {}
        self.journals: dict[InvocationId, list[Entry]] = {}
        self.timers: set[Timer] = set()
        self.objects: dict[ObjectKey, ObjectRecord] = {}
        self.inboxes: dict[ObjectKey, dict[int, InvocationId]] = {}
        self.state: dict[ObjectKey, dict[str, bytes]] = {}
        self.promises: dict[PromiseKey, PromiseRecord] = {}
        self.waits: dict[str, WaitRow] = {}

    def invocation(self, invocation_id: InvocationId) -> Invocation | None:
        return self.invocations.get(invocation_id)

    def put_wait(self, row: WaitRow) -> None:
        self.waits.setdefault(row.wait_id, row)

    def complete_wait(self, wait_id: str, now_ms: int, result: Result) -> None:
        row = self.waits.get(wait_id)
        if row is not None and row.status == WaitStatus.PENDING:
            row.status, row.completed_at_ms, row.result = WaitStatus.COMPLETED, now_ms, result

    def close_waits(self, invocation_id: InvocationId) -> None:
        raw = invocation_id.to_bytes()
        for row in self.waits.values():
            if row.invocation_id == raw and row.status == WaitStatus.PENDING:
                row.status = WaitStatus.CLOSED

    def set_deadline(
        self,
        invocation_id: InvocationId,
        signal_indexes: tuple[int, ...],
        completion_ids: tuple[int, ...],
        deadline_ms: int | None,
    ) -> None:
        raw = invocation_id.to_bytes()
        for row in self.waits.values():
            if row.invocation_id == raw and row.status == WaitStatus.PENDING:
                handles = signal_indexes if row.kind == WaitKind.AWAKEABLE else completion_ids
                if row.handle in handles:
                    row.deadline_ms = deadline_ms

    def put_invocation(self, invocation_id: InvocationId, invocation: Invocation) -> None:
        self.invocations[invocation_id] = invocation

    def append(self, invocation_id: InvocationId, index: int, entry: Entry) -> None:
        journal = self.journals.setdefault(invocation_id, [])
        if index != len(journal):
            raise AssertionError(f"journal gap: appending index {index} to {len(journal)} entries")
        journal.append(entry)

    def add_timer(self, timer: Timer) -> None:
        self.timers.add(timer)

    def remove_timer(self, timer: Timer) -> None:
        self.timers.discard(timer)

    def delete_invocation(self, invocation_id: InvocationId) -> None:
        self.invocations.pop(invocation_id, None)
        self.journals.pop(invocation_id, None)
        raw = invocation_id.to_bytes()
        for wait_id in [w for w, row in self.waits.items() if row.invocation_id == raw]:
            del self.waits[wait_id]

    def object(self, key: ObjectKey) -> ObjectRecord | None:
        return self.objects.get(key)

    def put_object(self, key: ObjectKey, record: ObjectRecord) -> None:
        self.objects[key] = record

    def inbox_head(self, key: ObjectKey) -> InboxHead:
        inbox = self.inboxes.get(key)
        if not inbox:
            return None
        seq = min(inbox)
        return seq, inbox[seq]

    def inbox_push(self, key: ObjectKey, seq: int, invocation_id: InvocationId) -> None:
        self.inboxes.setdefault(key, {})[seq] = invocation_id

    def inbox_remove(self, key: ObjectKey, seq: int) -> None:
        self.inboxes.get(key, {}).pop(seq, None)

    def set_state(self, key: ObjectKey, name: str, value: bytes | None) -> None:
        values = self.state.setdefault(key, {})
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value

    def clear_state(self, key: ObjectKey) -> None:
        self.state.pop(key, None)

    def promise(self, key: PromiseKey) -> PromiseRecord | None:
        return self.promises.get(key)

    def put_promise(self, key: PromiseKey, record: PromiseRecord) -> None:
        self.promises[key] = record

    def clear_promises(self, key: ObjectKey) -> None:
        for promise_key in [k for k in self.promises if k[:2] == key]:
            del self.promises[promise_key]
