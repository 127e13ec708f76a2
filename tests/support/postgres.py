"""A fresh PostgreSQL schema per test, on the server the suite requires (never skipped)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import psycopg

# The server CI provides; tests fail (not skip) when it is not there.
SERVER = os.environ.get("WAKEFUL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """Create an empty schema; yield a conninfo whose tables live in it; drop it afterwards."""
    name = f"wakeful_test_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]  # generated name
    separator = "&" if "?" in SERVER else "?"
    try:
        yield f"{SERVER}{separator}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")  # type: ignore[arg-type]  # as above
