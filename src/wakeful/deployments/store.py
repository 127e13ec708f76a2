"""Deployments on disk: one SQLite table beside the engine's store, written on registration."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import msgspec

from wakeful.deployments.model import Deployment

__all__ = ["DeploymentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    invocation_id BLOB PRIMARY KEY,
    deployment_id TEXT NOT NULL
);
"""


class DeploymentStore:
    """Durable deployment records (and which deployment an invocation is pinned to)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def open(self) -> list[Deployment]:
        """Open (creating) the table and return every stored deployment."""
        target = ":memory:" if self._path is None else str(self._path)
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Pins are written per invocation: NORMAL keeps them off the fsync path (they survive a
        # process crash, not a power loss); registrations checkpoint with a full sync.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        rows = self._db.execute("SELECT body FROM deployments").fetchall()
        return [msgspec.msgpack.decode(body, type=Deployment) for (body,) in rows]

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the deployment store is not open")
        return self._db

    async def put(self, deployment: Deployment) -> None:
        """Store (or replace) a deployment; durable when this returns."""
        body = msgspec.msgpack.encode(deployment)
        async with self._lock:
            await asyncio.to_thread(self._put, deployment.id, body)

    def _put(self, deployment_id: str, body: bytes) -> None:
        db = self._conn()
        db.execute(
            "INSERT OR REPLACE INTO deployments (id, body) VALUES (?, ?)", (deployment_id, body)
        )
        db.execute("PRAGMA wal_checkpoint(FULL)")

    async def delete(self, deployment_id: str) -> None:
        """Forget a deployment."""
        async with self._lock:
            await asyncio.to_thread(
                self._conn().execute, "DELETE FROM deployments WHERE id = ?", (deployment_id,)
            )

    async def pin(self, invocation_id: bytes, deployment_id: str) -> None:
        """Record the deployment an invocation started on (first writer wins)."""
        async with self._lock:
            await asyncio.to_thread(
                self._conn().execute,
                "INSERT OR IGNORE INTO pins (invocation_id, deployment_id) VALUES (?, ?)",
                (invocation_id, deployment_id),
            )

    async def pinned(self, invocation_id: bytes) -> str | None:
        """The deployment an invocation is pinned to, if any."""
        row = (
            self._conn()
            .execute("SELECT deployment_id FROM pins WHERE invocation_id = ?", (invocation_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])
