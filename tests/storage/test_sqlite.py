"""SQLite-only behaviour: schema migrations of older data dirs, and commits that fail in SQLite."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wakeful.engine.model import (
    Invocation,
    ObjectRecord,
    PromiseRecord,
    Status,
    Target,
    Timer,
    TimerKind,
)
from wakeful.journal.entries import InputCommand, OutputCommand, Result, RunCommand
from wakeful.journal.ids import InvocationId
from wakeful.storage.api import Batch, FencedError, SchemaVersionError
from wakeful.storage.sqlite import SqliteStore
from wakeful.storage.sqlite_schema import LATEST, schema_version
from wakeful.storage.sqlite_waits import WAITS_SCHEMA

T0 = 1_700_000_000_000
# A database written by the release before schema versioning (made with its SqliteStore).
V1_FIXTURE = Path(__file__).parent / "fixtures" / "schema-v1.sqlite"
RUNNING, SUSPENDED, DONE = InvocationId(1, 100), InvocationId(2, 200), InvocationId(3, 300)
CART = ("Cart", "user-7")


@pytest.fixture
async def v1_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    path = tmp_path / "wakeful.sqlite"
    shutil.copy(V1_FIXTURE, path)
    store = SqliteStore(path)
    await store.open()
    yield store
    await store.close()


async def test_a_data_dir_of_the_previous_schema_is_upgraded_and_readable(
    v1_store: SqliteStore,
) -> None:
    """Opening an unversioned (v1) database migrates it; every row it held reads back."""
    with sqlite3.connect(v1_store.path) as conn:
        assert schema_version(conn) == LATEST
    found = await v1_store.load_invocations(0, [RUNNING, SUSPENDED, DONE])
    assert {iid: inv.status for iid, inv in found.items()} == {
        RUNNING: Status.RUNNING,
        SUSPENDED: Status.SUSPENDED,
        DONE: Status.COMPLETED,
    }
    assert found[SUSPENDED].target == Target("Cart", "checkout", key="user-7")
    assert found[SUSPENDED].waiting is not None
    assert found[SUSPENDED].waiting.signal_indexes == (17,)
    assert await v1_store.load_journal(0, DONE) == [
        InputCommand([], b'"c"'),
        OutputCommand(Result(value=b'"hi"')),
    ]
    assert await v1_store.load_journal(0, RUNNING) == [
        InputCommand([], b'"a"'),
        RunCommand("step", 1),
    ]
    # Rows written before partitions existed belong to the single partition 0.
    assert await v1_store.running_invocations(0, None, 10) == [RUNNING]
    assert await v1_store.due_timers(0, T0 + 5_000, 10) == [
        Timer(T0 + 5_000, RUNNING, TimerKind.SLEEP, 0, 1)
    ]
    assert await v1_store.next_expiry_ms(0) == T0 + 86_400_000
    assert await v1_store.load_objects(0, [CART]) == {
        CART: ObjectRecord(locked_by=SUSPENDED.to_bytes(), next_seq=2)
    }
    assert await v1_store.load_inbox_heads(0, [CART]) == {CART: (1, RUNNING)}
    assert await v1_store.load_state(0, CART) == {"items": b'["apple"]'}
    assert await v1_store.load_promises(0, [("Signup", "user-7", "email")]) == {
        ("Signup", "user-7", "email"): PromiseRecord(result=Result(value=b'"ok"'))
    }


async def test_an_upgraded_data_dir_accepts_new_writes_and_reopens(
    v1_store: SqliteStore,
) -> None:
    """After the upgrade a leader can take the partition and commit; reopening migrates nothing."""
    epoch = await v1_store.lead(0)
    done = Invocation(Target("Greeter", "greet"), Status.SUSPENDED, T0, T0 + 1)
    await v1_store.commit(0, epoch, Batch(invocations={RUNNING: done}))
    again = SqliteStore(v1_store.path)
    await again.open()
    try:
        assert (await again.load_invocations(0, [RUNNING]))[RUNNING] == done
        assert await again.running_invocations(0, None, 10) == []
        with pytest.raises(FencedError):  # the reopened data dir kept the epoch
            await again.commit(0, epoch - 1, Batch(invocations={RUNNING: done}))
    finally:
        await again.close()


async def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    """A schema version above what this release knows fails open() with a clear error."""
    path = tmp_path / "wakeful.sqlite"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (LATEST + 1,))
    newer = SqliteStore(path)
    with pytest.raises(SchemaVersionError, match="newer than this release"):
        await newer.open()
    await newer.close()


async def test_a_full_disk_surfaces_the_real_error_and_the_next_commit_succeeds(
    tmp_path: Path,
) -> None:
    """A commit failing for lack of space raises SQLite's "full" error, not a ROLLBACK error;
    nothing of it is stored, and once space is back the next commit succeeds on the same store."""
    store = SqliteStore(tmp_path / "wakeful.sqlite")
    await store.open()
    try:
        epoch = await store.lead(0)
        first = InvocationId(1, 1)
        await store.commit(0, epoch, Batch(invocations={first: _inv()}))
        pages = await store._write(  # the writer connection's size cap stands in for the disk
            lambda conn: conn.execute("PRAGMA page_count").fetchone()[0]
        )
        await store._write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
        big = Batch(
            invocations={InvocationId(2, i): _inv() for i in range(50)},
            journal=[(InvocationId(2, 0), i, InputCommand([], b"x" * 4000)) for i in range(50)],
        )
        with pytest.raises(sqlite3.OperationalError, match="full"):
            await store.commit(0, epoch, big)
        assert await store.load_invocations(0, [InvocationId(2, 0)]) == {}
        assert await store.load_journal(0, InvocationId(2, 0)) == []
        await store._write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
        await store.commit(0, epoch, big)
        assert len(await store.load_journal(0, InvocationId(2, 0))) == 50
        assert set(await store.load_invocations(0, [first])) == {first}
    finally:
        await store.close()


def _inv() -> Invocation:
    return Invocation(Target("Greeter", "greet"), Status.RUNNING, T0, T0)


async def test_an_unversioned_data_dir_with_the_waits_table_upgrades(tmp_path: Path) -> None:
    """A data dir of the unversioned layout that already has the waits table (written by a
    release between the two) upgrades to the latest version and keeps its wait rows."""
    path = tmp_path / "wakeful.sqlite"
    shutil.copy(V1_FIXTURE, path)
    with sqlite3.connect(path) as conn:
        conn.executescript(WAITS_SCHEMA)
        conn.execute(
            "INSERT INTO waits (wait_id, kind, status, service, target, invocation_id, handle, "
            "created_at) VALUES ('sign_1x', 0, 0, 'Approvals', 'Approvals/request', ?, 17, ?)",
            (SUSPENDED.to_bytes(), T0),
        )
    store = SqliteStore(path)
    await store.open()
    try:
        found = await store.load_wait("sign_1x")
        assert found is not None
        assert (found.service, found.handle) == ("Approvals", 17)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == LATEST
