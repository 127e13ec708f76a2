"""The SQLite table of pending waits (awakeables, awaited promises): schema, batch writes, reads.

Listing reads one index range, newest first, with a keyset cursor (created at, id): a page
costs the same with 100,000 pending rows as with ten, and never touches the invocations.
"""

from __future__ import annotations

import sqlite3

from wakeful.engine.waits import WaitKind, WaitRow, WaitStatus
from wakeful.journal.codec import decode_result, encode_result
from wakeful.storage.api import Batch, WaitQuery

__all__ = ["WAITS_SCHEMA", "commit_waits", "from_row", "list_waits", "load_wait", "to_row"]

WAITS_SCHEMA = """
CREATE TABLE IF NOT EXISTS waits (
    wait_id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    status INTEGER NOT NULL,
    service TEXT NOT NULL,
    target TEXT NOT NULL,
    invocation_id BLOB NOT NULL,
    handle INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    description TEXT,
    schema BLOB,
    deadline INTEGER,
    completed_at INTEGER,
    result BLOB
);
CREATE INDEX IF NOT EXISTS waits_listing ON waits(kind, status, created_at, wait_id);
CREATE INDEX IF NOT EXISTS waits_by_service
    ON waits(kind, status, service, created_at, wait_id);
CREATE INDEX IF NOT EXISTS waits_by_invocation ON waits(invocation_id, status);
"""

_COLUMNS = (
    "wait_id, kind, status, service, target, invocation_id, handle, created_at, description, "
    "schema, deadline, completed_at, result"
)
_Row = tuple[
    str,
    int,
    int,
    str,
    str,
    bytes,
    int,
    int,
    str | None,
    bytes | None,
    int | None,
    int | None,
    bytes | None,
]


def to_row(row: WaitRow) -> _Row:
    """A wait row as the table's column values."""
    return (
        row.wait_id,
        int(row.kind),
        int(row.status),
        row.service,
        row.target,
        row.invocation_id,
        row.handle,
        row.created_at_ms,
        row.description,
        row.schema,
        row.deadline_ms,
        row.completed_at_ms,
        None if row.result is None else encode_result(row.result),
    )


def from_row(values: _Row) -> WaitRow:
    """A wait row from the table's column values."""
    (wait_id, kind, status, service, target, iid, handle, created, description, schema) = values[
        :10
    ]
    deadline, completed, result = values[10:]
    return WaitRow(
        wait_id=wait_id,
        kind=WaitKind(kind),
        invocation_id=bytes(iid),
        handle=handle,
        target=target,
        service=service,
        created_at_ms=created,
        description=description,
        schema=None if schema is None else bytes(schema),
        deadline_ms=deadline,
        status=WaitStatus(status),
        completed_at_ms=completed,
        result=None if result is None else decode_result(bytes(result)),
    )


def commit_waits(conn: sqlite3.Connection, batch: Batch) -> None:
    """Apply a batch's changes to the waits table (inside the batch's transaction)."""
    if batch.deleted:
        conn.executemany(
            "DELETE FROM waits WHERE invocation_id = ?", [(i.to_bytes(),) for i in batch.deleted]
        )
    if batch.waits:
        marks = ",".join("?" * 13)
        conn.executemany(
            f"INSERT OR IGNORE INTO waits ({_COLUMNS}) VALUES ({marks})",
            [to_row(row) for row in batch.waits.values()],
        )
    if batch.waits_completed:
        conn.executemany(
            "UPDATE waits SET status = 1, completed_at = ?, result = ? "
            "WHERE wait_id = ? AND status = 0",
            [
                (at, encode_result(result), wait_id)
                for wait_id, (at, result) in batch.waits_completed.items()
            ],
        )
    if batch.waits_closed:
        conn.executemany(
            "UPDATE waits SET status = 2 WHERE invocation_id = ? AND status = 0",
            [(i.to_bytes(),) for i in batch.waits_closed],
        )
    for iid, signals, completions, deadline in batch.wait_deadlines:
        for kind, handles in ((WaitKind.AWAKEABLE, signals), (WaitKind.PROMISE, completions)):
            if handles:
                marks = ",".join("?" * len(handles))
                conn.execute(
                    f"UPDATE waits SET deadline = ? WHERE invocation_id = ? AND status = 0 "
                    f"AND kind = ? AND handle IN ({marks})",
                    (deadline, iid.to_bytes(), int(kind), *handles),
                )


def load_wait(conn: sqlite3.Connection, wait_id: str) -> WaitRow | None:
    """One wait row by id."""
    found = conn.execute(f"SELECT {_COLUMNS} FROM waits WHERE wait_id = ?", (wait_id,)).fetchone()
    return None if found is None else from_row(found)


def list_waits(conn: sqlite3.Connection, query: WaitQuery) -> list[WaitRow]:
    """A page of wait rows, newest first."""
    where = ["kind = ?"]
    args: list[object] = [query.kind]
    if query.status is not None:
        where.append("status = ?")
        args.append(query.status)
    if query.service is not None:
        where.append("service = ?")
        args.append(query.service)
    if query.invocation_id is not None:
        where.append("invocation_id = ?")
        args.append(query.invocation_id.to_bytes())
    if query.before is not None:
        where.append("(created_at, wait_id) < (?, ?)")
        args.extend(query.before)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM waits WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, wait_id DESC LIMIT ?",
        (*args, query.limit),
    )
    return [from_row(r) for r in rows]
