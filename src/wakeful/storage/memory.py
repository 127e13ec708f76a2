"""In-memory store: the Store contract without a disk, for test harnesses and engine tests.

Rows are kept encoded, as a database keeps them, so a caller can never change stored records
by mutating what it committed or loaded, and a record the codec cannot encode fails the commit
as it would on disk. A commit encodes and checks everything before it changes anything, so a
failing batch leaves nothing behind. Several `MemoryStore`s over one `MemoryDatabase` behave like
several processes over one database (`lead` in one fences the others' commits); nothing
survives the process.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import msgspec

from wakeful.engine.model import (
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseKey,
    PromiseRecord,
    Status,
    Timer,
    TimerKind,
)
from wakeful.engine.waits import WaitKind, WaitRow, WaitStatus
from wakeful.journal.codec import decode_entry, encode_entry
from wakeful.journal.entries import Entry
from wakeful.journal.ids import InvocationId
from wakeful.storage.api import Batch, FencedError, InvocationRow, WaitQuery

__all__ = ["IntegrityError", "MemoryDatabase", "MemoryStore"]

_encode = msgspec.msgpack.Encoder().encode
_decode_invocation = msgspec.msgpack.Decoder(Invocation).decode
_decode_object = msgspec.msgpack.Decoder(ObjectRecord).decode
_decode_promise = msgspec.msgpack.Decoder(PromiseRecord).decode
_decode_wait = msgspec.msgpack.Decoder(WaitRow).decode

_TimerRow = tuple[int, InvocationId, int, int, int]  # due, id, kind, attempt, completion id


class IntegrityError(Exception):
    """A batch would store a second row under an existing key (journal index, inbox seq)."""


@dataclass(slots=True)
class _Row:
    partition: int
    status: int
    expires_at: int | None
    data: bytes


@dataclass
class MemoryDatabase:
    """The shared "database" of one or more MemoryStores."""

    epochs: dict[int, int] = field(default_factory=dict)
    invocations: dict[InvocationId, _Row] = field(default_factory=dict)
    journal: dict[InvocationId, dict[int, bytes]] = field(default_factory=dict)
    timers: dict[_TimerRow, int] = field(default_factory=dict)  # timer → partition
    objects: dict[ObjectKey, bytes] = field(default_factory=dict)
    inbox: dict[ObjectKey, dict[int, InvocationId]] = field(default_factory=dict)
    state: dict[ObjectKey, dict[str, bytes]] = field(default_factory=dict)
    promises: dict[ObjectKey, dict[str, bytes]] = field(default_factory=dict)
    waits: dict[str, WaitRow] = field(default_factory=dict)  # copies: never handed out


class MemoryStore:
    """A Store over a `MemoryDatabase` (a fresh one unless given)."""

    def __init__(self, database: MemoryDatabase | None = None) -> None:
        self.database = database if database is not None else MemoryDatabase()
        self._open = False

    @property
    def _db(self) -> MemoryDatabase:
        assert self._open, "store is not open"
        return self.database

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def lead(self, partition: int) -> int:
        epochs = self._db.epochs
        epochs[partition] = epochs.get(partition, 0) + 1
        return epochs[partition]

    # -- writes -------------------------------------------------------------------------

    async def commit(self, partition: int, epoch: int, batch: Batch) -> None:
        db = self._db
        if not batch:
            return
        current = db.epochs.get(partition)
        if current != epoch:
            raise FencedError(partition, epoch, current)
        # Everything that can fail happens before the first change.
        invocations = {
            iid: _Row(
                partition,
                int(inv.status),
                inv.expires_at_ms if inv.status == Status.COMPLETED else None,
                _encode(inv),
            )
            for iid, inv in batch.invocations.items()
        }
        journal = [(iid, idx, encode_entry(entry)) for iid, idx, entry in batch.journal]
        objects = {key: _encode(record) for key, record in batch.objects.items()}
        promises = {key: _encode(record) for key, record in batch.promises.items()}
        waits = {wait_id: _decode_wait(_encode(row)) for wait_id, row in batch.waits.items()}
        _check_unique(db, batch)
        for iid in batch.deleted:
            db.invocations.pop(iid, None)
            db.journal.pop(iid, None)
        for iid, idx, data in journal:
            db.journal.setdefault(iid, {})[idx] = data
        db.invocations.update(invocations)
        for timer in batch.timers_added:
            db.timers.setdefault(_timer_row(timer), partition)
        for timer in batch.timers_removed:
            db.timers.pop(_timer_row(timer), None)
        db.objects.update(objects)
        for key, seq, iid in batch.inbox_pushed:
            db.inbox.setdefault(key, {})[seq] = iid
        for key, seq in batch.inbox_removed:
            db.inbox.get(key, {}).pop(seq, None)
        for key in batch.state_cleared:
            db.state.pop(key, None)
        for (key, name), value in batch.state_set.items():
            if value is None:
                db.state.get(key, {}).pop(name, None)
            else:
                db.state.setdefault(key, {})[name] = bytes(value)
        for key in batch.promises_cleared:
            db.promises.pop(key, None)
        for (service, object_key, name), data in promises.items():
            db.promises.setdefault((service, object_key), {})[name] = data
        _commit_waits(db, batch, waits)

    # -- reads --------------------------------------------------------------------------

    async def load_invocations(
        self, partition: int, ids: Collection[InvocationId]
    ) -> dict[InvocationId, Invocation]:
        rows = self._db.invocations
        return {iid: _decode_invocation(rows[iid].data) for iid in ids if iid in rows}

    async def load_journal(self, partition: int, invocation_id: InvocationId) -> list[Entry]:
        entries = self._db.journal.get(invocation_id, {})
        return [decode_entry(entries[idx]) for idx in sorted(entries)]

    async def running_invocations(
        self, partition: int, after: InvocationId | None, limit: int
    ) -> list[InvocationId]:
        start = after.to_bytes() if after is not None else b""
        running = sorted(
            (iid.to_bytes(), iid)
            for iid, row in self._db.invocations.items()
            if row.partition == partition and row.status == Status.RUNNING
        )
        return [iid for key, iid in running if key > start][:limit]

    async def due_timers(self, partition: int, now_ms: int, limit: int) -> list[Timer]:
        due = sorted(
            (row[0], row[1].to_bytes(), row)
            for row, owner in self._db.timers.items()
            if owner == partition and row[0] <= now_ms
        )[:limit]
        return [
            Timer(due_ms, iid, TimerKind(kind), attempt, cid)
            for _, _, (due_ms, iid, kind, attempt, cid) in due
        ]

    async def next_timer_due_ms(self, partition: int) -> int | None:
        return min(
            (row[0] for row, owner in self._db.timers.items() if owner == partition),
            default=None,
        )

    async def next_expiry_ms(self, partition: int) -> int | None:
        return min(
            (
                row.expires_at
                for row in self._db.invocations.values()
                if row.partition == partition and row.expires_at is not None
            ),
            default=None,
        )

    async def expired_invocations(
        self, partition: int, now_ms: int, limit: int
    ) -> list[InvocationId]:
        expired = sorted(
            (row.expires_at, iid.to_bytes(), iid)
            for iid, row in self._db.invocations.items()
            if row.partition == partition
            and row.expires_at is not None
            and row.expires_at <= now_ms
        )
        return [iid for _, _, iid in expired[:limit]]

    async def load_objects(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, ObjectRecord]:
        objects = self._db.objects
        return {key: _decode_object(objects[key]) for key in keys if key in objects}

    async def load_inbox_heads(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, tuple[int, InvocationId] | None]:
        heads: dict[ObjectKey, tuple[int, InvocationId] | None] = {}
        for key in keys:
            queued = self._db.inbox.get(key)
            heads[key] = None
            if queued:
                seq = min(queued)
                heads[key] = (seq, queued[seq])
        return heads

    async def load_promises(
        self, partition: int, keys: Collection[PromiseKey]
    ) -> dict[PromiseKey, PromiseRecord]:
        promises = self._db.promises
        found: dict[PromiseKey, PromiseRecord] = {}
        for service, key, name in keys:
            data = promises.get((service, key), {}).get(name)
            if data is not None:
                found[(service, key, name)] = _decode_promise(data)
        return found

    async def load_state(self, partition: int, key: ObjectKey) -> dict[str, bytes]:
        return dict(self._db.state.get(key, {}))

    async def load_wait(self, wait_id: str) -> WaitRow | None:
        found = self._db.waits.get(wait_id)
        return None if found is None else _decode_wait(_encode(found))

    async def list_waits(self, query: WaitQuery) -> list[WaitRow]:
        iid = None if query.invocation_id is None else query.invocation_id.to_bytes()
        rows = [
            row
            for row in self._db.waits.values()
            if row.kind == query.kind
            and (query.status is None or row.status == query.status)
            and (query.service is None or row.service == query.service)
            and (iid is None or row.invocation_id == iid)
            and (query.before is None or (row.created_at_ms, row.wait_id) < query.before)
        ]
        rows.sort(key=lambda row: (row.created_at_ms, row.wait_id), reverse=True)
        return [_decode_wait(_encode(row)) for row in rows[: query.limit]]

    async def list_invocations(self, status: int | None, limit: int) -> list[InvocationRow]:
        rows = [
            InvocationRow(iid, _decode_invocation(row.data))
            for iid, row in self._db.invocations.items()
            if status is None or row.status == status
        ]
        return rows[:limit]


def _commit_waits(db: MemoryDatabase, batch: Batch, added: dict[str, WaitRow]) -> None:
    """The waits table's changes, in the order the SQL stores apply them."""
    gone = {iid.to_bytes() for iid in batch.deleted}
    closed = {iid.to_bytes() for iid in batch.waits_closed}
    waits = db.waits
    for wait_id in [w for w, row in waits.items() if row.invocation_id in gone]:
        del waits[wait_id]
    for wait_id, row in added.items():
        waits.setdefault(wait_id, row)
    for wait_id, (at, result) in batch.waits_completed.items():
        found = waits.get(wait_id)
        if found is not None and found.status == WaitStatus.PENDING:
            found.status, found.completed_at_ms, found.result = WaitStatus.COMPLETED, at, result
    for row in waits.values():
        if row.invocation_id in closed and row.status == WaitStatus.PENDING:
            row.status = WaitStatus.CLOSED
    for iid, signals, completions, deadline in batch.wait_deadlines:
        handles = {WaitKind.AWAKEABLE: set(signals), WaitKind.PROMISE: set(completions)}
        for row in waits.values():
            if (
                row.invocation_id == iid.to_bytes()
                and row.status == WaitStatus.PENDING
                and row.handle in handles[row.kind]
            ):
                row.deadline_ms = deadline


def _check_unique(db: MemoryDatabase, batch: Batch) -> None:
    """Raise IntegrityError if the batch would store a journal index or inbox seq twice."""
    seen: set[tuple[InvocationId, int]] = set()
    for iid, idx, _ in batch.journal:
        stored = iid not in batch.deleted and idx in db.journal.get(iid, {})
        if stored or (iid, idx) in seen:
            raise IntegrityError(f"journal entry {idx} of {iid} exists")
        seen.add((iid, idx))
    queued: set[tuple[ObjectKey, int]] = set()
    for key, seq, _ in batch.inbox_pushed:
        if seq in db.inbox.get(key, {}) or (key, seq) in queued:
            raise IntegrityError(f"inbox entry {seq} of {key} exists")
        queued.add((key, seq))


def _timer_row(timer: Timer) -> _TimerRow:
    return (
        timer.due_ms,
        timer.invocation_id,
        int(timer.kind),
        timer.attempt,
        timer.completion_id,
    )
