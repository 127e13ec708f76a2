"""The SQLite schema as a list of forward migrations, applied in order when a store opens.

Version 1 is the layout of data dirs written before the schema was versioned (they have tables
but no `schema_version`); every later version is one step. A database already at a version newer
than this release knows is refused rather than guessed at.

Rows hold msgpack maps keyed by field name, so a field added to a record with a default reads
from rows written before it existed; a change the codec cannot absorb gets a migration here.
"""

from __future__ import annotations

import sqlite3

from wakeful.storage.api import SchemaVersionError
from wakeful.storage.sqlite_waits import WAITS_SCHEMA

__all__ = ["LATEST", "MIGRATIONS", "migrate", "schema_version"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the unversioned layout (one process, one implicit partition)
    (
        "CREATE TABLE invocations (id BLOB PRIMARY KEY, status INTEGER NOT NULL, "
        "expires_at INTEGER, data BLOB NOT NULL) WITHOUT ROWID",
        "CREATE INDEX invocations_running ON invocations(id) WHERE status = 1",
        "CREATE INDEX invocations_expiry ON invocations(expires_at) WHERE expires_at IS NOT NULL",
        "CREATE TABLE journal (invocation_id BLOB NOT NULL, idx INTEGER NOT NULL, "
        "data BLOB NOT NULL, PRIMARY KEY (invocation_id, idx)) WITHOUT ROWID",
        "CREATE TABLE timers (due_ms INTEGER NOT NULL, invocation_id BLOB NOT NULL, "
        "kind INTEGER NOT NULL, attempt INTEGER NOT NULL, completion_id INTEGER NOT NULL "
        "DEFAULT 0, PRIMARY KEY (due_ms, invocation_id, kind, attempt, completion_id)) "
        "WITHOUT ROWID",
        "CREATE TABLE objects (service TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, "
        "PRIMARY KEY (service, key)) WITHOUT ROWID",
        "CREATE TABLE inbox (service TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, "
        "invocation_id BLOB NOT NULL, PRIMARY KEY (service, key, seq)) WITHOUT ROWID",
        "CREATE TABLE state (service TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, "
        "value BLOB NOT NULL, PRIMARY KEY (service, key, name)) WITHOUT ROWID",
        "CREATE TABLE promises (service TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, "
        "data BLOB NOT NULL, PRIMARY KEY (service, key, name)) WITHOUT ROWID",
    ),
    # 2: partitions with epochs; the scanned rows (invocations, timers) carry their partition
    (
        "CREATE TABLE partitions (partition INTEGER PRIMARY KEY, epoch INTEGER NOT NULL)",
        "ALTER TABLE invocations ADD COLUMN partition INTEGER NOT NULL DEFAULT 0",
        "DROP INDEX invocations_running",
        "DROP INDEX invocations_expiry",
        "CREATE INDEX invocations_running ON invocations(partition, id) WHERE status = 1",
        "CREATE INDEX invocations_expiry ON invocations(partition, expires_at) "
        "WHERE expires_at IS NOT NULL",
        "ALTER TABLE timers ADD COLUMN partition INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX timers_due ON timers(partition, due_ms)",
    ),
    # 3: the index of pending waits (awakeables, awaited promises) for the admin API; data dirs
    # written between its introduction and schema versioning have it already
    tuple(s.strip() for s in WAITS_SCHEMA.split(";") if s.strip()),
)
LATEST = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version: 0 when empty, 1 for the unversioned layout."""
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('schema_version', 'invocations')"
        )
    }
    if "schema_version" in tables:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        return 0 if row is None else int(row[0])
    return 1 if "invocations" in tables else 0


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Bring the schema up to `target` in one transaction; return the version found before.

    The write lock is taken before the version is read, so two processes opening the same new
    database at once migrate it once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > LATEST:
            raise SchemaVersionError(
                f"the database has schema version {found}, newer than this release of wakeful "
                f"knows ({LATEST}); upgrade wakeful to open it"
            )
        for statements in MIGRATIONS[found:target]:
            for statement in statements:
                conn.execute(statement)
        if found < target:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
