"""PostgreSQL-only behaviour: the schema is created and migrated on open, once, under a lock."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from tests.support.postgres import postgres_schema

from wakeful.storage.api import SchemaVersionError
from wakeful.storage.postgres import PostgresStore
from wakeful.storage.postgres_schema import LATEST


async def test_processes_opening_a_new_database_together_create_the_schema_once() -> None:
    """Four stores opening one empty database at once all succeed; the version is the latest."""
    with postgres_schema() as conninfo:
        stores = [PostgresStore(conninfo, min_connections=1) for _ in range(4)]
        await asyncio.gather(*(store.open() for store in stores))
        try:
            epochs = [await store.lead(0) for store in stores]
            assert epochs == [1, 2, 3, 4]
        finally:
            await asyncio.gather(*(store.close() for store in stores))
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(LATEST,)]


async def test_a_database_from_a_newer_release_is_refused() -> None:
    """A schema version above what this release knows fails open() with a clear error."""
    with postgres_schema() as conninfo:
        store = PostgresStore(conninfo, min_connections=1)
        await store.open()
        await store.close()
        with psycopg.connect(conninfo) as conn:
            conn.execute("UPDATE schema_version SET version = %s", (LATEST + 1,))
        newer = PostgresStore(conninfo, min_connections=1)
        with pytest.raises(SchemaVersionError, match="newer than this release"):
            await newer.open()
        await newer.close()
