"""SQLite store: stdlib `sqlite3`, WAL, synchronous=FULL, one writer thread and one reader thread.

Writes from the partition leader arrive as one `Batch` per group commit and are applied in one
transaction on the writer thread; the commit's fsync is shared by every event in the batch.
Reads run on their own connections, so they never wait behind an fsync: the leader's point
lookups (invocations, objects, inbox heads, promises by key) inline on the event loop, where an
index lookup costs less than a hop to a thread and back; journals, state and scans on the
reader thread.

The schema is migrated forward on open (`sqlite_schema`). Every commit checks, inside its
transaction, that the committing leader's epoch is still the partition's (`lead`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

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
from wakeful.engine.waits import WaitRow
from wakeful.journal.codec import decode_entry, encode_entry
from wakeful.journal.entries import Entry
from wakeful.journal.ids import FIRST_AWAKEABLE_SIGNAL, InvocationId
from wakeful.storage import sqlite_waits
from wakeful.storage.api import Batch, FencedError, InvocationRow, WaitQuery
from wakeful.storage.sqlite_schema import migrate

__all__ = ["SqliteStore"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_encode = msgspec.msgpack.Encoder().encode
_decode_invocation = msgspec.msgpack.Decoder(Invocation).decode
_decode_object = msgspec.msgpack.Decoder(ObjectRecord).decode
_decode_promise = msgspec.msgpack.Decoder(PromiseRecord).decode


class SqliteStore:
    """The embedded default store; `path` is the database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="wakeful-sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="wakeful-sqlite-reader")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lookups: sqlite3.Connection | None = None  # used on the event loop only

    # -- plumbing -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._writer
        assert conn is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._writer_pool, fn, conn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._reader
        assert conn is not None, "store is not open"
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, fn, conn)

    def _lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._lookups
        assert conn is not None, "store is not open"
        return fn(conn)

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._writer_pool, self._connect)
        await self._write(migrate)
        self._reader = await loop.run_in_executor(self._reader_pool, self._connect)
        self._lookups = self._connect()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await loop.run_in_executor(self._writer_pool, self._writer.close)
            self._writer = None
        if self._reader is not None:
            await loop.run_in_executor(self._reader_pool, self._reader.close)
            self._reader = None
        if self._lookups is not None:
            self._lookups.close()
            self._lookups = None
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)

    # -- writes -------------------------------------------------------------------------

    async def lead(self, partition: int) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "INSERT INTO partitions (partition, epoch) VALUES (?, 1) "
                    "ON CONFLICT (partition) DO UPDATE SET epoch = epoch + 1 RETURNING epoch",
                    (partition,),
                ).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            return int(row[0])

        return await self._write(bump)

    async def commit(self, partition: int, epoch: int, batch: Batch) -> None:
        if batch:
            await self._write(lambda conn: _commit(conn, partition, epoch, batch))

    # -- reads --------------------------------------------------------------------------

    async def load_invocations(
        self, partition: int, ids: Collection[InvocationId]
    ) -> dict[InvocationId, Invocation]:
        keys = [iid.to_bytes() for iid in ids]
        if not keys:
            return {}

        def load(conn: sqlite3.Connection) -> dict[InvocationId, Invocation]:
            found: dict[InvocationId, Invocation] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT id, data FROM invocations WHERE id IN ({marks})",
                    chunk,
                )
                for key, data in rows:
                    found[InvocationId.from_bytes(key)] = _decode_invocation(data)
            return found

        return self._lookup(load)

    async def load_journal(self, partition: int, invocation_id: InvocationId) -> list[Entry]:
        key = invocation_id.to_bytes()

        def load(conn: sqlite3.Connection) -> list[Entry]:
            rows = conn.execute(
                "SELECT data FROM journal WHERE invocation_id = ? ORDER BY idx", (key,)
            )
            return [decode_entry(data) for (data,) in rows]

        return await self._read(load)

    async def running_invocations(
        self, partition: int, after: InvocationId | None, limit: int
    ) -> list[InvocationId]:
        start = after.to_bytes() if after is not None else b""

        def load(conn: sqlite3.Connection) -> list[InvocationId]:
            rows = conn.execute(
                "SELECT id FROM invocations WHERE partition = ? AND status = 1 AND id > ? "
                "ORDER BY id LIMIT ?",
                (partition, start, limit),
            )
            return [InvocationId.from_bytes(key) for (key,) in rows]

        return await self._read(load)

    async def due_timers(self, partition: int, now_ms: int, limit: int) -> list[Timer]:
        def load(conn: sqlite3.Connection) -> list[Timer]:
            rows = conn.execute(
                "SELECT due_ms, invocation_id, kind, attempt, completion_id FROM timers "
                "WHERE partition = ? AND due_ms <= ? ORDER BY due_ms LIMIT ?",
                (partition, now_ms, limit),
            )
            return [
                Timer(due, InvocationId.from_bytes(key), TimerKind(kind), attempt, cid)
                for due, key, kind, attempt, cid in rows
            ]

        return await self._read(load)

    async def next_timer_due_ms(self, partition: int) -> int | None:
        def load(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT MIN(due_ms) FROM timers WHERE partition = ?", (partition,)
            ).fetchone()
            return None if row is None or row[0] is None else int(row[0])

        return await self._read(load)

    async def next_expiry_ms(self, partition: int) -> int | None:
        def load(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT MIN(expires_at) FROM invocations "
                "WHERE partition = ? AND expires_at IS NOT NULL",
                (partition,),
            ).fetchone()
            return None if row is None or row[0] is None else int(row[0])

        return await self._read(load)

    async def expired_invocations(
        self, partition: int, now_ms: int, limit: int
    ) -> list[InvocationId]:
        def load(conn: sqlite3.Connection) -> list[InvocationId]:
            rows = conn.execute(
                "SELECT id FROM invocations WHERE partition = ? AND expires_at IS NOT NULL "
                "AND expires_at <= ? ORDER BY expires_at LIMIT ?",
                (partition, now_ms, limit),
            )
            return [InvocationId.from_bytes(key) for (key,) in rows]

        return await self._read(load)

    async def load_objects(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, ObjectRecord]:
        wanted = list(keys)

        def load(conn: sqlite3.Connection) -> dict[ObjectKey, ObjectRecord]:
            found: dict[ObjectKey, ObjectRecord] = {}
            for service, key in wanted:
                row = conn.execute(
                    "SELECT data FROM objects WHERE service = ? AND key = ?", (service, key)
                ).fetchone()
                if row is not None:
                    found[(service, key)] = _decode_object(row[0])
            return found

        return self._lookup(load) if wanted else {}

    async def load_inbox_heads(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, tuple[int, InvocationId] | None]:
        wanted = list(keys)

        def load(conn: sqlite3.Connection) -> dict[ObjectKey, tuple[int, InvocationId] | None]:
            heads: dict[ObjectKey, tuple[int, InvocationId] | None] = {}
            for service, key in wanted:
                row = conn.execute(
                    "SELECT seq, invocation_id FROM inbox WHERE service = ? AND key = ? "
                    "ORDER BY seq LIMIT 1",
                    (service, key),
                ).fetchone()
                heads[(service, key)] = (
                    None if row is None else (int(row[0]), InvocationId.from_bytes(row[1]))
                )
            return heads

        return self._lookup(load) if wanted else {}

    async def load_promises(
        self, partition: int, keys: Collection[PromiseKey]
    ) -> dict[PromiseKey, PromiseRecord]:
        wanted = list(keys)

        def load(conn: sqlite3.Connection) -> dict[PromiseKey, PromiseRecord]:
            found: dict[PromiseKey, PromiseRecord] = {}
            for start in range(0, len(wanted), 300):  # 3 variables each, well under the limit
                chunk = wanted[start : start + 300]
                # One statement per chunk; CROSS JOIN keeps the wanted keys as the outer loop,
                # so each is one primary-key search.
                rows = conn.execute(
                    "SELECT p.service, p.key, p.name, p.data FROM (VALUES "
                    + ",".join(["(?, ?, ?)"] * len(chunk))
                    + ") AS w CROSS JOIN promises AS p ON p.service = w.column1 "
                    "AND p.key = w.column2 AND p.name = w.column3",
                    [part for promise_key in chunk for part in promise_key],
                )
                for service, key, name, data in rows:
                    found[(service, key, name)] = _decode_promise(data)
            return found

        return self._lookup(load) if wanted else {}

    async def load_state(self, partition: int, key: ObjectKey) -> dict[str, bytes]:
        def load(conn: sqlite3.Connection) -> dict[str, bytes]:
            rows = conn.execute("SELECT name, value FROM state WHERE service = ? AND key = ?", key)
            return {name: bytes(value) for name, value in rows}

        return await self._read(load)

    async def counts(self) -> tuple[dict[int, int], dict[str, int]]:
        """Invocations by status, and what is pending: invocations suspended on an awakeable,
        durable promises not completed, timers (for metrics; scans, off the event loop)."""

        def load(conn: sqlite3.Connection) -> tuple[dict[int, int], dict[str, int]]:
            statuses = dict(conn.execute("SELECT status, count(*) FROM invocations GROUP BY 1"))
            awakeables = 0
            for (data,) in conn.execute(
                "SELECT data FROM invocations WHERE status = ?", (int(Status.SUSPENDED),)
            ):
                waiting = _decode_invocation(data).waiting
                if waiting is not None and any(
                    i >= FIRST_AWAKEABLE_SIGNAL for i in waiting.signal_indexes
                ):
                    awakeables += 1
            promises = sum(
                1
                for (data,) in conn.execute("SELECT data FROM promises")
                if _decode_promise(data).result is None
            )
            (timers,) = conn.execute("SELECT count(*) FROM timers").fetchone()
            pending = {"awakeable": awakeables, "promise": promises, "timer": int(timers)}
            return statuses, pending

        return await self._read(load)

    async def list_invocations(self, status: int | None, limit: int) -> list[InvocationRow]:
        def load(conn: sqlite3.Connection) -> list[InvocationRow]:
            if status is None:
                rows = conn.execute("SELECT id, data FROM invocations LIMIT ?", (limit,))
            else:
                rows = conn.execute(
                    "SELECT id, data FROM invocations WHERE status = ? LIMIT ?", (status, limit)
                )
            return [
                InvocationRow(InvocationId.from_bytes(key), _decode_invocation(data))
                for key, data in rows
            ]

        return await self._read(load)

    async def load_wait(self, wait_id: str) -> WaitRow | None:
        return self._lookup(lambda conn: sqlite_waits.load_wait(conn, wait_id))

    async def list_waits(self, query: WaitQuery) -> list[WaitRow]:
        return await self._read(lambda conn: sqlite_waits.list_waits(conn, query))


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction, never hiding why it failed.

    SQLite rolls a transaction back by itself on some errors (a full disk, an I/O error), so
    there may be nothing left to roll back; a failing ROLLBACK is logged, and the caller
    re-raises the error that made the transaction fail.
    """
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.exception("ROLLBACK after a failed transaction failed too")


def _commit(conn: sqlite3.Connection, partition: int, epoch: int, batch: Batch) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT epoch FROM partitions WHERE partition = ?", (partition,)
        ).fetchone()
        if row is None or row[0] != epoch:
            raise FencedError(partition, epoch, None if row is None else int(row[0]))
        if batch.deleted:  # first: an id purged and created again in one batch keeps the new rows
            keys = [(iid.to_bytes(),) for iid in batch.deleted]
            conn.executemany("DELETE FROM invocations WHERE id = ?", keys)
            conn.executemany("DELETE FROM journal WHERE invocation_id = ?", keys)
        if batch.journal:
            conn.executemany(
                "INSERT INTO journal (invocation_id, idx, data) VALUES (?, ?, ?)",
                [(iid.to_bytes(), idx, encode_entry(entry)) for iid, idx, entry in batch.journal],
            )
        if batch.invocations:
            conn.executemany(
                "INSERT INTO invocations (id, partition, status, expires_at, data) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET partition = excluded.partition, "
                "status = excluded.status, expires_at = excluded.expires_at, data = excluded.data",
                [
                    (
                        iid.to_bytes(),
                        partition,
                        int(inv.status),
                        inv.expires_at_ms if inv.status == Status.COMPLETED else None,
                        _encode(inv),
                    )
                    for iid, inv in batch.invocations.items()
                ],
            )
        if batch.timers_added:
            conn.executemany(
                "INSERT OR IGNORE INTO timers (due_ms, invocation_id, kind, attempt, "
                "completion_id, partition) VALUES (?, ?, ?, ?, ?, ?)",
                [(*_timer_row(t), partition) for t in batch.timers_added],
            )
        if batch.timers_removed:
            conn.executemany(
                "DELETE FROM timers WHERE due_ms = ? AND invocation_id = ? AND kind = ? "
                "AND attempt = ? AND completion_id = ?",
                [_timer_row(t) for t in batch.timers_removed],
            )
        _commit_keyed(conn, batch)
        sqlite_waits.commit_waits(conn, batch)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _commit_keyed(conn: sqlite3.Connection, batch: Batch) -> None:
    if batch.objects:
        conn.executemany(
            "INSERT OR REPLACE INTO objects (service, key, data) VALUES (?, ?, ?)",
            [(s, k, _encode(record)) for (s, k), record in batch.objects.items()],
        )
    if batch.inbox_pushed:
        conn.executemany(
            "INSERT INTO inbox (service, key, seq, invocation_id) VALUES (?, ?, ?, ?)",
            [(s, k, seq, iid.to_bytes()) for (s, k), seq, iid in batch.inbox_pushed],
        )
    if batch.inbox_removed:
        conn.executemany(
            "DELETE FROM inbox WHERE service = ? AND key = ? AND seq = ?",
            [(s, k, seq) for (s, k), seq in batch.inbox_removed],
        )
    if batch.state_cleared:
        conn.executemany("DELETE FROM state WHERE service = ? AND key = ?", batch.state_cleared)
    if batch.state_set:
        conn.executemany(
            "DELETE FROM state WHERE service = ? AND key = ? AND name = ?",
            [(s, k, n) for ((s, k), n), v in batch.state_set.items() if v is None],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO state (service, key, name, value) VALUES (?, ?, ?, ?)",
            [(s, k, n, v) for ((s, k), n), v in batch.state_set.items() if v is not None],
        )
    if batch.promises_cleared:
        conn.executemany(
            "DELETE FROM promises WHERE service = ? AND key = ?", batch.promises_cleared
        )
    if batch.promises:
        conn.executemany(
            "INSERT OR REPLACE INTO promises (service, key, name, data) VALUES (?, ?, ?, ?)",
            [(s, k, n, _encode(record)) for (s, k, n), record in batch.promises.items()],
        )


def _timer_row(timer: Timer) -> tuple[int, bytes, int, int, int]:
    return (
        timer.due_ms,
        timer.invocation_id.to_bytes(),
        int(timer.kind),
        timer.attempt,
        timer.completion_id,
    )
