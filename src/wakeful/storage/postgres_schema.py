"""The PostgreSQL schema as a list of forward migrations, applied in order when a store opens.

The migration runs in one transaction under an advisory lock, so processes starting together on
a new database create it once; a database at a version newer than this release knows is refused.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from wakeful.storage.api import SchemaVersionError
from wakeful.storage.postgres_waits import WAITS_DDL

__all__ = ["LATEST", "MIGRATIONS", "migrate"]

_LOCK = 0x77616B6566756C  # "wakeful": the advisory lock serialising migrations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: partitions with epochs and leases; the partition's state tables
    (
        "CREATE TABLE partitions (partition integer PRIMARY KEY, epoch bigint NOT NULL, "
        "owner text, lease_until_ms bigint)",
        "CREATE TABLE invocations (id bytea PRIMARY KEY, partition integer NOT NULL, "
        "status smallint NOT NULL, expires_at bigint, data bytea NOT NULL)",
        "CREATE INDEX invocations_running ON invocations (partition, id) WHERE status = 1",
        "CREATE INDEX invocations_expiry ON invocations (partition, expires_at) "
        "WHERE expires_at IS NOT NULL",
        "CREATE TABLE journal (invocation_id bytea NOT NULL, idx integer NOT NULL, "
        "data bytea NOT NULL, PRIMARY KEY (invocation_id, idx))",
        "CREATE TABLE timers (partition integer NOT NULL, due_ms bigint NOT NULL, "
        "invocation_id bytea NOT NULL, kind smallint NOT NULL, attempt bigint NOT NULL, "
        "completion_id bigint NOT NULL DEFAULT 0, "
        "PRIMARY KEY (due_ms, invocation_id, kind, attempt, completion_id))",
        "CREATE INDEX timers_due ON timers (partition, due_ms)",
        "CREATE TABLE objects (service text NOT NULL, key text NOT NULL, data bytea NOT NULL, "
        "PRIMARY KEY (service, key))",
        "CREATE TABLE inbox (service text NOT NULL, key text NOT NULL, seq bigint NOT NULL, "
        "invocation_id bytea NOT NULL, PRIMARY KEY (service, key, seq))",
        "CREATE TABLE state (service text NOT NULL, key text NOT NULL, name text NOT NULL, "
        "value bytea NOT NULL, PRIMARY KEY (service, key, name))",
        "CREATE TABLE promises (service text NOT NULL, key text NOT NULL, name text NOT NULL, "
        "data bytea NOT NULL, PRIMARY KEY (service, key, name))",
    ),
    # 2: the processes of a cluster (what they serve on, when they were last alive)
    (
        "CREATE TABLE processes (id text PRIMARY KEY, ingress_url text NOT NULL, "
        "admin_url text NOT NULL, started_ms bigint NOT NULL, heartbeat_ms bigint NOT NULL)",
    ),
    # 3: the index of pending waits (awakeables, awaited promises) for the admin API
    WAITS_DDL,
)
LATEST = len(MIGRATIONS)


async def migrate(conn: AsyncConnection[tuple[object, ...]], target: int = LATEST) -> int:
    """Bring the schema up to `target`; return the version found before."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        cur = await conn.execute("SELECT version FROM schema_version")
        row = await cur.fetchone()
        found = 0 if row is None else int(str(row[0]))
        if found > LATEST:
            raise SchemaVersionError(
                f"the database has schema version {found}, newer than this release of wakeful "
                f"knows ({LATEST}); upgrade wakeful to open it"
            )
        for statements in MIGRATIONS[found:target]:
            for statement in statements:
                await conn.execute(statement)
        if found < target:
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (target,))
    return found
