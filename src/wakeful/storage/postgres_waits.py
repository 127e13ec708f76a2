"""The PostgreSQL table of pending waits (awakeables, awaited promises): batch writes, reads.

The same rows, indexes and keyset paging (created at, id; newest first) as the SQLite store's.
"""

from __future__ import annotations

from typing import Any

from wakeful.engine.waits import WaitKind, WaitRow
from wakeful.journal.codec import encode_result
from wakeful.storage.api import Batch, WaitQuery
from wakeful.storage.sqlite_waits import from_row, to_row

__all__ = ["WAITS_DDL", "commit_waits", "list_waits", "load_wait"]

WAITS_DDL = (
    # wait_id in byte order ("C"), as SQLite compares it: the paging cursor orders the same way
    'CREATE TABLE waits (wait_id text COLLATE "C" PRIMARY KEY, kind smallint NOT NULL, '
    "status smallint NOT NULL, service text NOT NULL, target text NOT NULL, "
    "invocation_id bytea NOT NULL, handle bigint NOT NULL, created_at bigint NOT NULL, "
    "description text, schema bytea, deadline bigint, completed_at bigint, result bytea)",
    "CREATE INDEX waits_listing ON waits (kind, status, created_at, wait_id)",
    "CREATE INDEX waits_by_service ON waits (kind, status, service, created_at, wait_id)",
    "CREATE INDEX waits_by_invocation ON waits (invocation_id, status)",
)
_COLUMNS = (
    "wait_id, kind, status, service, target, invocation_id, handle, created_at, description, "
    "schema, deadline, completed_at, result"
)


async def commit_waits(cur: Any, batch: Batch) -> None:
    """Apply a batch's changes to the waits table (inside the batch's transaction)."""
    if batch.deleted:
        await cur.execute(
            "DELETE FROM waits WHERE invocation_id = ANY(%s)",
            ([i.to_bytes() for i in batch.deleted],),
        )
    if batch.waits:
        marks = ",".join(["%s"] * 13)
        await cur.executemany(
            f"INSERT INTO waits ({_COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            [to_row(row) for row in batch.waits.values()],
        )
    if batch.waits_completed:
        await cur.executemany(
            "UPDATE waits SET status = 1, completed_at = %s, result = %s "
            "WHERE wait_id = %s AND status = 0",
            [
                (at, encode_result(result), wait_id)
                for wait_id, (at, result) in batch.waits_completed.items()
            ],
        )
    if batch.waits_closed:
        await cur.execute(
            "UPDATE waits SET status = 2 WHERE invocation_id = ANY(%s) AND status = 0",
            ([i.to_bytes() for i in batch.waits_closed],),
        )
    for iid, signals, completions, deadline in batch.wait_deadlines:
        for kind, handles in ((WaitKind.AWAKEABLE, signals), (WaitKind.PROMISE, completions)):
            if handles:
                await cur.execute(
                    "UPDATE waits SET deadline = %s WHERE invocation_id = %s AND status = 0 "
                    "AND kind = %s AND handle = ANY(%s)",
                    (deadline, iid.to_bytes(), int(kind), list(handles)),
                )


def load_wait_query(wait_id: str) -> tuple[str, tuple[str]]:
    """The statement reading one wait row by id."""
    return f"SELECT {_COLUMNS} FROM waits WHERE wait_id = %s", (wait_id,)


def list_waits_query(query: WaitQuery) -> tuple[str, list[object]]:
    """The statement reading a page of wait rows, newest first."""
    where = ["kind = %s"]
    args: list[object] = [query.kind]
    if query.status is not None:
        where.append("status = %s")
        args.append(query.status)
    if query.service is not None:
        where.append("service = %s")
        args.append(query.service)
    if query.invocation_id is not None:
        where.append("invocation_id = %s")
        args.append(query.invocation_id.to_bytes())
    if query.before is not None:
        where.append("(created_at, wait_id) < (%s, %s)")
        args.extend(query.before)
    args.append(query.limit)
    return (
        f"SELECT {_COLUMNS} FROM waits WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, wait_id DESC LIMIT %s",
        args,
    )


def load_wait(rows: list[tuple[Any, ...]]) -> WaitRow | None:
    """The row read by `load_wait_query`, if any."""
    return from_row(rows[0]) if rows else None


def list_waits(rows: list[tuple[Any, ...]]) -> list[WaitRow]:
    """The rows read by `list_waits_query`."""
    return [from_row(r) for r in rows]
