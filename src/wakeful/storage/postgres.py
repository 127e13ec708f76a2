"""PostgreSQL store: psycopg 3 (async) over a connection pool, one transaction per batch.

A commit first reads its partition's epoch row `FOR SHARE`: a `lead` (which updates that row)
waits for commits in flight and every commit after it sees the new epoch, so a deposed leader
can never write once another leader took the partition. Reads run on pooled autocommit
connections, so a leader's loads proceed concurrently with its commit.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

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
from wakeful.journal.ids import InvocationId
from wakeful.storage import postgres_waits
from wakeful.storage.api import (
    Batch,
    FencedError,
    InvocationRow,
    PartitionLease,
    ProcessRow,
    WaitQuery,
)
from wakeful.storage.postgres_schema import migrate

__all__ = ["PostgresStore"]

# Milliseconds since the epoch by the database's clock: leases never compare two machines' clocks.
_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

_encode = msgspec.msgpack.Encoder().encode
_decode_invocation = msgspec.msgpack.Decoder(Invocation).decode
_decode_object = msgspec.msgpack.Decoder(ObjectRecord).decode
_decode_promise = msgspec.msgpack.Decoder(PromiseRecord).decode

Conn = AsyncConnection[tuple[Any, ...]]


class PostgresStore:
    """The shared store of one or many processes; `conninfo` is a libpq URL or DSN."""

    def __init__(self, conninfo: str, *, min_connections: int = 2, max_connections: int = 10):
        self.conninfo = conninfo
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo,
            min_size=min_connections,
            max_size=max_connections,
            kwargs={"autocommit": True},
            open=False,
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)
        async with self._pool.connection() as conn:
            await migrate(conn)

    async def close(self) -> None:
        await self._pool.close()

    async def _rows(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    # -- leadership and writes ------------------------------------------------------------

    async def lead(self, partition: int) -> int:
        rows = await self._rows(
            "INSERT INTO partitions (partition, epoch) VALUES (%s, 1) ON CONFLICT (partition) "
            "DO UPDATE SET epoch = partitions.epoch + 1 RETURNING epoch",
            (partition,),
        )
        return int(rows[0][0])

    async def commit(self, partition: int, epoch: int, batch: Batch) -> None:
        if not batch:
            return
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT epoch FROM partitions WHERE partition = %s FOR SHARE", (partition,)
            )
            row = await cur.fetchone()
            if row is None or row[0] != epoch:
                raise FencedError(partition, epoch, None if row is None else int(row[0]))
            await _write(conn, partition, batch)

    # -- leases and membership (ClusterStore) -------------------------------------------------

    async def acquire_lease(self, partition: int, owner: str, ttl_ms: int) -> int | None:
        rows = await self._rows(
            "INSERT INTO partitions AS p (partition, epoch, owner, lease_until_ms) "
            f"VALUES (%(p)s, 1, %(o)s, {_NOW_MS} + %(t)s) ON CONFLICT (partition) DO UPDATE "
            "SET epoch = p.epoch + 1, owner = excluded.owner, "
            "lease_until_ms = excluded.lease_until_ms "
            f"WHERE p.owner IS NULL OR p.lease_until_ms < {_NOW_MS} RETURNING epoch",
            {"p": partition, "o": owner, "t": ttl_ms},
        )
        return int(rows[0][0]) if rows else None

    async def renew_lease(self, partition: int, owner: str, epoch: int, ttl_ms: int) -> bool:
        # An expired lease nobody took is still this owner's: its epoch fences nobody else.
        rows = await self._rows(
            f"UPDATE partitions SET lease_until_ms = {_NOW_MS} + %s "
            "WHERE partition = %s AND owner = %s AND epoch = %s RETURNING epoch",
            (ttl_ms, partition, owner, epoch),
        )
        return bool(rows)

    async def release_lease(self, partition: int, owner: str, epoch: int) -> None:
        await self._rows(
            "UPDATE partitions SET lease_until_ms = 0 "
            "WHERE partition = %s AND owner = %s AND epoch = %s RETURNING epoch",
            (partition, owner, epoch),
        )

    async def leases(self) -> list[PartitionLease]:
        rows = await self._rows(
            f"SELECT p.partition, p.epoch, p.owner, p.lease_until_ms - {_NOW_MS}, "
            "r.ingress_url, r.admin_url FROM partitions AS p "
            "LEFT JOIN processes AS r ON r.id = p.owner ORDER BY p.partition"
        )
        return [PartitionLease(*row) for row in rows]

    async def heartbeat(self, process: ProcessRow) -> None:
        await self._rows(
            "INSERT INTO processes (id, ingress_url, admin_url, started_ms, heartbeat_ms) "
            f"VALUES (%s, %s, %s, %s, {_NOW_MS}) ON CONFLICT (id) DO UPDATE "
            "SET ingress_url = excluded.ingress_url, admin_url = excluded.admin_url, "
            "heartbeat_ms = excluded.heartbeat_ms RETURNING id",
            (process.id, process.ingress_url, process.admin_url, process.started_ms),
        )

    async def forget_process(self, process_id: str) -> None:
        await self._rows("DELETE FROM processes WHERE id = %s RETURNING id", (process_id,))

    async def processes(self) -> list[ProcessRow]:
        rows = await self._rows(
            f"SELECT id, ingress_url, admin_url, started_ms, {_NOW_MS} - heartbeat_ms "
            "FROM processes ORDER BY heartbeat_ms DESC, id"
        )
        return [ProcessRow(*row) for row in rows]

    # -- reads --------------------------------------------------------------------------

    async def load_invocations(
        self, partition: int, ids: Collection[InvocationId]
    ) -> dict[InvocationId, Invocation]:
        if not ids:
            return {}
        rows = await self._rows(
            "SELECT id, data FROM invocations WHERE id = ANY(%s)",
            ([iid.to_bytes() for iid in ids],),
        )
        return {InvocationId.from_bytes(key): _decode_invocation(data) for key, data in rows}

    async def load_journal(self, partition: int, invocation_id: InvocationId) -> list[Entry]:
        rows = await self._rows(
            "SELECT data FROM journal WHERE invocation_id = %s ORDER BY idx",
            (invocation_id.to_bytes(),),
        )
        return [decode_entry(data) for (data,) in rows]

    async def running_invocations(
        self, partition: int, after: InvocationId | None, limit: int
    ) -> list[InvocationId]:
        rows = await self._rows(
            "SELECT id FROM invocations WHERE partition = %s AND status = 1 AND id > %s "
            "ORDER BY id LIMIT %s",
            (partition, after.to_bytes() if after is not None else b"", limit),
        )
        return [InvocationId.from_bytes(key) for (key,) in rows]

    async def due_timers(self, partition: int, now_ms: int, limit: int) -> list[Timer]:
        rows = await self._rows(
            "SELECT due_ms, invocation_id, kind, attempt, completion_id FROM timers "
            "WHERE partition = %s AND due_ms <= %s ORDER BY due_ms LIMIT %s",
            (partition, now_ms, limit),
        )
        return [
            Timer(due, InvocationId.from_bytes(key), TimerKind(kind), attempt, cid)
            for due, key, kind, attempt, cid in rows
        ]

    async def next_timer_due_ms(self, partition: int) -> int | None:
        rows = await self._rows("SELECT MIN(due_ms) FROM timers WHERE partition = %s", (partition,))
        return None if rows[0][0] is None else int(rows[0][0])

    async def next_expiry_ms(self, partition: int) -> int | None:
        rows = await self._rows(
            "SELECT MIN(expires_at) FROM invocations WHERE partition = %s "
            "AND expires_at IS NOT NULL",
            (partition,),
        )
        return None if rows[0][0] is None else int(rows[0][0])

    async def expired_invocations(
        self, partition: int, now_ms: int, limit: int
    ) -> list[InvocationId]:
        rows = await self._rows(
            "SELECT id FROM invocations WHERE partition = %s AND expires_at IS NOT NULL "
            "AND expires_at <= %s ORDER BY expires_at LIMIT %s",
            (partition, now_ms, limit),
        )
        return [InvocationId.from_bytes(key) for (key,) in rows]

    async def load_objects(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, ObjectRecord]:
        if not keys:
            return {}
        services, names = zip(*keys, strict=True)
        rows = await self._rows(
            "SELECT o.service, o.key, o.data FROM unnest(%s::text[], %s::text[]) AS w(s, k) "
            "JOIN objects AS o ON o.service = w.s AND o.key = w.k",
            (list(services), list(names)),
        )
        return {(service, key): _decode_object(data) for service, key, data in rows}

    async def load_inbox_heads(
        self, partition: int, keys: Collection[ObjectKey]
    ) -> dict[ObjectKey, tuple[int, InvocationId] | None]:
        if not keys:
            return {}
        services, names = zip(*keys, strict=True)
        rows = await self._rows(
            "SELECT DISTINCT ON (i.service, i.key) i.service, i.key, i.seq, i.invocation_id "
            "FROM unnest(%s::text[], %s::text[]) AS w(s, k) "
            "JOIN inbox AS i ON i.service = w.s AND i.key = w.k "
            "ORDER BY i.service, i.key, i.seq",
            (list(services), list(names)),
        )
        heads: dict[ObjectKey, tuple[int, InvocationId] | None] = dict.fromkeys(keys)
        for service, key, seq, iid in rows:
            heads[(service, key)] = (int(seq), InvocationId.from_bytes(iid))
        return heads

    async def load_promises(
        self, partition: int, keys: Collection[PromiseKey]
    ) -> dict[PromiseKey, PromiseRecord]:
        if not keys:
            return {}
        services, object_keys, names = zip(*keys, strict=True)
        rows = await self._rows(
            "SELECT p.service, p.key, p.name, p.data "
            "FROM unnest(%s::text[], %s::text[], %s::text[]) AS w(s, k, n) "
            "JOIN promises AS p ON p.service = w.s AND p.key = w.k AND p.name = w.n",
            (list(services), list(object_keys), list(names)),
        )
        return {(s, k, n): _decode_promise(data) for s, k, n, data in rows}

    async def load_state(self, partition: int, key: ObjectKey) -> dict[str, bytes]:
        rows = await self._rows(
            "SELECT name, value FROM state WHERE service = %s AND key = %s", key
        )
        return {name: bytes(value) for name, value in rows}

    async def list_invocations(self, status: int | None, limit: int) -> list[InvocationRow]:
        if status is None:
            rows = await self._rows("SELECT id, data FROM invocations LIMIT %s", (limit,))
        else:
            rows = await self._rows(
                "SELECT id, data FROM invocations WHERE status = %s LIMIT %s", (status, limit)
            )
        return [
            InvocationRow(InvocationId.from_bytes(key), _decode_invocation(data))
            for key, data in rows
        ]

    async def load_wait(self, wait_id: str) -> WaitRow | None:
        query, args = postgres_waits.load_wait_query(wait_id)
        return postgres_waits.load_wait(await self._rows(query, args))

    async def list_waits(self, query: WaitQuery) -> list[WaitRow]:
        statement, args = postgres_waits.list_waits_query(query)
        return postgres_waits.list_waits(await self._rows(statement, args))


async def _write(conn: Conn, partition: int, batch: Batch) -> None:
    """The batch's statements, in the order the Store contract defines."""
    cur = conn.cursor()
    if batch.deleted:  # first: an id purged and created again in one batch keeps the new rows
        keys = [iid.to_bytes() for iid in batch.deleted]
        await cur.execute("DELETE FROM invocations WHERE id = ANY(%s)", (keys,))
        await cur.execute("DELETE FROM journal WHERE invocation_id = ANY(%s)", (keys,))
    if batch.journal:
        await cur.executemany(
            "INSERT INTO journal (invocation_id, idx, data) VALUES (%s, %s, %s)",
            [(iid.to_bytes(), idx, encode_entry(entry)) for iid, idx, entry in batch.journal],
        )
    if batch.invocations:
        await cur.executemany(
            "INSERT INTO invocations (id, partition, status, expires_at, data) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "partition = excluded.partition, status = excluded.status, "
            "expires_at = excluded.expires_at, data = excluded.data",
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
        await cur.executemany(
            "INSERT INTO timers (partition, due_ms, invocation_id, kind, attempt, completion_id) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(partition, *_timer_row(t)) for t in batch.timers_added],
        )
    if batch.timers_removed:
        await cur.executemany(
            "DELETE FROM timers WHERE due_ms = %s AND invocation_id = %s AND kind = %s "
            "AND attempt = %s AND completion_id = %s",
            [_timer_row(t) for t in batch.timers_removed],
        )
    await _write_keyed(cur, batch)
    await postgres_waits.commit_waits(cur, batch)


async def _write_keyed(cur: Any, batch: Batch) -> None:
    if batch.objects:
        await cur.executemany(
            "INSERT INTO objects (service, key, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (service, key) DO UPDATE SET data = excluded.data",
            [(s, k, _encode(record)) for (s, k), record in batch.objects.items()],
        )
    if batch.inbox_pushed:
        await cur.executemany(
            "INSERT INTO inbox (service, key, seq, invocation_id) VALUES (%s, %s, %s, %s)",
            [(s, k, seq, iid.to_bytes()) for (s, k), seq, iid in batch.inbox_pushed],
        )
    if batch.inbox_removed:
        await cur.executemany(
            "DELETE FROM inbox WHERE service = %s AND key = %s AND seq = %s",
            [(s, k, seq) for (s, k), seq in batch.inbox_removed],
        )
    if batch.state_cleared:
        await cur.executemany(
            "DELETE FROM state WHERE service = %s AND key = %s", list(batch.state_cleared)
        )
    if batch.state_set:
        deleted = [(s, k, n) for ((s, k), n), v in batch.state_set.items() if v is None]
        if deleted:
            await cur.executemany(
                "DELETE FROM state WHERE service = %s AND key = %s AND name = %s", deleted
            )
        written = [(s, k, n, v) for ((s, k), n), v in batch.state_set.items() if v is not None]
        if written:
            await cur.executemany(
                "INSERT INTO state (service, key, name, value) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value",
                written,
            )
    if batch.promises_cleared:
        await cur.executemany(
            "DELETE FROM promises WHERE service = %s AND key = %s", list(batch.promises_cleared)
        )
    if batch.promises:
        await cur.executemany(
            "INSERT INTO promises (service, key, name, data) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (service, key, name) DO UPDATE SET data = excluded.data",
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
