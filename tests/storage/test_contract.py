"""The Store contract: every backend passes this suite unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
import textwrap
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import psycopg
import pytest
from tests.support.postgres import postgres_schema

from wakeful.engine.model import (
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseKey,
    PromiseRecord,
    Status,
    Target,
    Timer,
    TimerKind,
    Waiting,
)
from wakeful.journal.entries import (
    CompleteAwakeableCommand,
    CompletionNotification,
    Entry,
    Failure,
    InputCommand,
    OutputCommand,
    Result,
    RunCommand,
    SignalNotification,
)
from wakeful.journal.ids import InvocationId
from wakeful.storage import memory
from wakeful.storage.api import Batch, FencedError, Store
from wakeful.storage.memory import MemoryDatabase, MemoryStore
from wakeful.storage.postgres import PostgresStore
from wakeful.storage.sqlite import SqliteStore

T0 = 1_700_000_000_000
TARGET = Target("Greeter", "greet")
A = InvocationId(1, 100)
B = InvocationId(2, 200)


P = 0  # the partition the suite writes, unless a test says otherwise


@dataclass(frozen=True)
class Backend:
    """How the suite reaches one backend's database."""

    make: Callable[[], Store]  # a new, unopened store over this test's database
    child_setup: str | None  # source binding `store` to the database in a child process, if any
    integrity_error: type[Exception]  # what a duplicate primary key raises from commit()


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "wakeful.db"
    return Backend(
        make=lambda: SqliteStore(path),
        child_setup=(
            f"from wakeful.storage.sqlite import SqliteStore\nstore = SqliteStore({str(path)!r})\n"
        ),
        integrity_error=sqlite3.IntegrityError,
    )


def memory_backend(tmp_path: Path) -> Backend:
    database = MemoryDatabase()
    return Backend(
        make=lambda: MemoryStore(database),
        child_setup=None,  # nothing outlives the process
        integrity_error=memory.IntegrityError,
    )


@contextlib.contextmanager
def postgres_backend(tmp_path: Path) -> Iterator[Backend]:
    with postgres_schema() as conninfo:
        yield Backend(
            make=lambda: PostgresStore(conninfo, min_connections=1, max_connections=4),
            child_setup=(
                "from wakeful.storage.postgres import PostgresStore\n"
                f"store = PostgresStore({conninfo!r})\n"
            ),
            integrity_error=psycopg.IntegrityError,
        )


def _plain(factory: Callable[[Path], Backend]) -> Callable[[Path], AbstractContextManager[Backend]]:
    return lambda tmp_path: contextlib.nullcontext(factory(tmp_path))


DURABLE = [  # on disk, shared between processes
    pytest.param(_plain(sqlite_backend), id="sqlite"),
    pytest.param(postgres_backend, id="postgres"),
]
BACKENDS = [*DURABLE, pytest.param(_plain(memory_backend), id="memory")]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with request.param(tmp_path) as made:
        yield made


@pytest.fixture(params=DURABLE)
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with request.param(tmp_path) as made:
        yield made


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = backend.make()
    await opened.open()
    yield opened
    await opened.close()


async def open_store(backend: Backend) -> Store:
    """Another opened store over the test's database, as after a restart."""
    again = backend.make()
    await again.open()
    return again


_epochs: weakref.WeakKeyDictionary[Store, int] = weakref.WeakKeyDictionary()


async def commit(store: Store, batch: Batch) -> None:
    """Commit to partition P as its current leader (the store leads P on its first commit)."""
    if store not in _epochs:
        _epochs[store] = await store.lead(P)
    await store.commit(P, _epochs[store], batch)


def invocation(status: Status = Status.RUNNING, **changes: object) -> Invocation:
    inv = Invocation(target=TARGET, status=status, created_at_ms=T0, modified_at_ms=T0)
    for name, value in changes.items():
        setattr(inv, name, value)
    return inv


def completed(expires_at_ms: int) -> Invocation:
    return invocation(
        Status.COMPLETED,
        result=Result(value=b"ok"),
        completed_at_ms=expires_at_ms - 1_000,
        expires_at_ms=expires_at_ms,
        retention_ms=1_000,
    )


def journal_rows(iid: InvocationId, entries: list[Entry]) -> list[tuple[InvocationId, int, Entry]]:
    return [(iid, idx, entry) for idx, entry in enumerate(entries)]


INPUT = InputCommand([("content-type", "application/json")], b'{"name": "x"}')


# --- round trips -----------------------------------------------------------------------------


async def test_commit_then_load_round_trips_invocations_and_journals(store: Store) -> None:
    """Every field of an invocation and every kind of entry comes back as committed."""
    rich = Invocation(
        target=Target("Cart", "checkout", key="user-7"),
        status=Status.SUSPENDED,
        created_at_ms=T0,
        modified_at_ms=T0 + 5,
        journal_length=6,
        attempt=3,
        retry_count=2,
        idempotency_key="idem-1",
        next_retry_at_ms=None,
        waiting=Waiting(completion_ids=(1,), signal_indexes=(17, 18)),
        last_failure=Failure(500, "boom", {"k": "v"}),
        retention_ms=86_400_000,
    )
    entries: list[Entry] = [
        INPUT,
        RunCommand("charge", 1),
        CompletionNotification(1, Result(failure=Failure(402, "declined"))),
        CompleteAwakeableCommand("sign_1abc", Result(value=b"")),
        SignalNotification(17, Result(value=b"yes")),
        OutputCommand(Result(value=b"\x00\xff")),
    ]
    plain = invocation()
    # Journal rows deliberately out of order: load_journal orders by index.
    rows = journal_rows(A, entries)
    await commit(
        store, Batch(invocations={A: rich, B: plain}, journal=[*reversed(rows), (B, 0, INPUT)])
    )
    assert await store.load_invocations(P, [A, B, InvocationId(9, 9)]) == {A: rich, B: plain}
    assert await store.load_journal(P, A) == entries
    assert await store.load_journal(P, B) == [INPUT]
    assert await store.load_journal(P, InvocationId(9, 9)) == []
    assert await store.load_invocations(P, []) == {}


async def test_commit_replaces_an_existing_invocation_record(store: Store) -> None:
    """Committing an id again overwrites its record; appending extends its journal."""
    await commit(store, Batch(invocations={A: invocation()}, journal=[(A, 0, INPUT)]))
    done = completed(T0 + 10_000)
    await commit(
        store, Batch(invocations={A: done}, journal=[(A, 1, OutputCommand(Result(value=b"ok")))])
    )
    assert await store.load_invocations(P, [A]) == {A: done}
    assert await store.load_journal(P, A) == [INPUT, OutputCommand(Result(value=b"ok"))]
    assert await store.running_invocations(P, None, 10) == []


async def test_load_invocations_handles_many_ids(store: Store) -> None:
    """Loading more ids than one query's parameter limit returns all of them."""
    ids = [InvocationId(i, i) for i in range(1_200)]
    await commit(store, Batch(invocations={iid: invocation() for iid in ids}))
    loaded = await store.load_invocations(P, ids)
    assert set(loaded) == set(ids)


# --- atomicity and durability ----------------------------------------------------------------


async def test_failing_batch_leaves_nothing_behind(store: Store, backend: Backend) -> None:
    """A batch that fails half-way (duplicate journal key) is rolled back entirely."""
    original = invocation()
    await commit(store, Batch(invocations={A: original}, journal=[(A, 0, INPUT)]))
    timer = Timer(T0, B, TimerKind.RETRY, 1)
    bad = Batch(
        invocations={A: completed(T0), B: invocation()},
        journal=[(B, 0, INPUT), (B, 1, RunCommand("r", 1)), (A, 0, INPUT)],  # (A, 0) exists
        timers_added=[timer],
    )
    with pytest.raises(backend.integrity_error):
        await commit(store, bad)
    assert await store.load_invocations(P, [A, B]) == {A: original}
    assert await store.load_journal(P, A) == [INPUT]
    assert await store.load_journal(P, B) == []
    assert await store.next_timer_due_ms(P) is None
    # The store is still usable after the rollback.
    await commit(store, Batch(invocations={B: invocation()}, journal=[(B, 0, INPUT)]))
    assert await store.load_journal(P, B) == [INPUT]


async def test_reopened_store_sees_everything_committed(backend: Backend) -> None:
    """Closing and re-opening the database keeps invocations, journals and timers."""
    done = completed(T0 + 1)
    timer = Timer(T0 + 500, A, TimerKind.RETRY, 2)
    first = await open_store(backend)
    await commit(
        first,
        Batch(
            invocations={A: invocation(), B: done},
            journal=[(A, 0, INPUT), (A, 1, RunCommand("r", 1)), (B, 0, INPUT)],
            timers_added=[timer],
        ),
    )
    await first.close()
    again = await open_store(backend)
    try:
        assert await again.load_invocations(P, [A, B]) == {A: invocation(), B: done}
        assert await again.load_journal(P, A) == [INPUT, RunCommand("r", 1)]
        assert await again.running_invocations(P, None, 10) == [A]
        assert await again.due_timers(P, T0 + 500, 10) == [timer]
        assert await again.expired_invocations(P, T0 + 1, 10) == [B]
    finally:
        await again.close()


async def test_committed_batch_survives_sigkill(durable_backend: Backend) -> None:
    """A batch whose commit() returned is on disk even if the process is killed at once."""
    backend = durable_backend
    assert backend.child_setup is not None
    child = backend.child_setup + textwrap.dedent(
        """
        import asyncio, time
        from wakeful.engine.model import Invocation, Status, Target, Timer, TimerKind
        from wakeful.journal.entries import InputCommand, RunCommand
        from wakeful.journal.ids import InvocationId
        from wakeful.storage.api import Batch

        async def main():
            await store.open()
            iid = InvocationId(1, 100)
            inv = Invocation(Target("Greeter", "greet"), Status.RUNNING, 1, 1, journal_length=2)
            epoch = await store.lead(0)
            await store.commit(0, epoch, Batch(
                invocations={iid: inv},
                journal=[(iid, 0, InputCommand([], b"in")), (iid, 1, RunCommand("r", 1))],
                timers_added=[Timer(42, iid, TimerKind.RETRY, 1)],
            ))
            print("committed", flush=True)
            time.sleep(60)  # killed here, before any close() or checkpoint

        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", child, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=15)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert line == b"committed\n"
    assert proc.returncode == -signal.SIGKILL
    store = await open_store(backend)
    try:
        loaded = await store.load_invocations(P, [A])
        assert loaded[A].status == Status.RUNNING
        assert loaded[A].journal_length == 2
        assert await store.load_journal(P, A) == [InputCommand([], b"in"), RunCommand("r", 1)]
        assert await store.due_timers(P, 42, 10) == [Timer(42, A, TimerKind.RETRY, 1)]
    finally:
        await store.close()


# --- deletion --------------------------------------------------------------------------------


async def test_deleted_invocations_vanish_with_their_journal(store: Store) -> None:
    """A deleted id is gone from every read; other invocations are untouched."""
    await commit(
        store,
        Batch(
            invocations={A: completed(T0), B: invocation()},
            journal=[(A, 0, INPUT), (A, 1, RunCommand("r", 1)), (B, 0, INPUT)],
        ),
    )
    await commit(store, Batch(deleted={A}))
    assert await store.load_invocations(P, [A, B]) == {B: invocation()}
    assert await store.load_journal(P, A) == []
    assert await store.load_journal(P, B) == [INPUT]
    assert await store.expired_invocations(P, T0 + 1, 10) == []
    assert [row.invocation_id for row in await store.list_invocations(None, 10)] == [B]


async def test_purge_then_recreate_in_one_batch_keeps_the_new_rows(store: Store) -> None:
    """Deleting an id and creating it again in one batch leaves only the new record and journal."""
    old_journal: list[Entry] = [INPUT, RunCommand("old", 1), OutputCommand(Result(value=b"o"))]
    await commit(store, Batch(invocations={A: completed(T0)}, journal=journal_rows(A, old_journal)))
    new_input = InputCommand([], b"second life")
    fresh = invocation(created_at_ms=T0 + 5)
    await commit(store, Batch(invocations={A: fresh}, deleted={A}, journal=[(A, 0, new_input)]))
    assert await store.load_invocations(P, [A]) == {A: fresh}
    assert await store.load_journal(P, A) == [new_input]
    assert await store.expired_invocations(P, T0 + 10, 10) == []
    assert await store.running_invocations(P, None, 10) == [A]


# --- scans -----------------------------------------------------------------------------------


async def test_running_invocations_pages_in_id_order(store: Store) -> None:
    """running_invocations lists only RUNNING ids, in id order, page by page after `after`."""
    running = [
        InvocationId(2**64 - 1, 1),  # the top bit set: ordering must be unsigned
        InvocationId(5, 2**128 - 1),
        InvocationId(5, 3),
        InvocationId(2**63, 0),
        InvocationId(0, 7),
    ]
    others = {
        InvocationId(4, 4): invocation(Status.SUSPENDED),
        InvocationId(6, 6): invocation(Status.BACKING_OFF),
        InvocationId(7, 7): invocation(Status.PAUSED),
        InvocationId(8, 8): completed(T0),
        InvocationId(9, 9): invocation(Status.PENDING),
    }
    await commit(store, Batch(invocations={**{i: invocation() for i in running}, **others}))
    pages: list[list[InvocationId]] = []
    after: InvocationId | None = None
    while page := await store.running_invocations(P, after, 2):
        assert len(page) <= 2
        pages.append(page)
        after = page[-1]
    assert [iid for page in pages for iid in page] == sorted(running)
    assert len(pages) == 3


async def test_due_timers_earliest_first_and_next_due(store: Store) -> None:
    """due_timers returns due timers earliest first (up to limit); next_timer_due_ms the minimum."""
    assert await store.next_timer_due_ms(P) is None
    assert await store.due_timers(P, T0, 10) == []
    timers = [
        Timer(T0 + 300, A, TimerKind.RETRY, 1),
        Timer(T0 + 100, B, TimerKind.RETRY, 4),
        Timer(T0 + 200, A, TimerKind.RETRY, 2),
        Timer(T0 + 900, B, TimerKind.RETRY, 5),
    ]
    await commit(store, Batch(timers_added=timers))
    assert await store.next_timer_due_ms(P) == T0 + 100
    assert await store.due_timers(P, T0 + 300, 10) == [timers[1], timers[2], timers[0]]
    assert await store.due_timers(P, T0 + 250, 1) == [timers[1]]
    assert await store.due_timers(P, T0 + 99, 10) == []


async def test_timers_removed_are_deleted(store: Store) -> None:
    """timers_removed deletes exactly those timers; removing an absent one is no error."""
    first = Timer(T0 + 100, A, TimerKind.RETRY, 1)
    second = Timer(T0 + 200, A, TimerKind.RETRY, 2)
    await commit(store, Batch(timers_added=[first, second]))
    absent = Timer(T0 + 100, A, TimerKind.RETRY, 9)
    await commit(store, Batch(timers_removed=[first, absent]))
    assert await store.next_timer_due_ms(P) == T0 + 200
    assert await store.due_timers(P, T0 + 1_000, 10) == [second]
    await commit(store, Batch(timers_removed=[second]))
    assert await store.next_timer_due_ms(P) is None


async def test_expired_invocations_are_completed_ones_past_retention(store: Store) -> None:
    """expired_invocations returns completed invocations with expires_at <= now, and no others."""
    early, edge, late = InvocationId(1, 1), InvocationId(2, 2), InvocationId(3, 3)
    not_done = InvocationId(4, 4)
    await commit(
        store,
        Batch(
            invocations={
                early: completed(T0 + 100),
                edge: completed(T0 + 200),
                late: completed(T0 + 300),
                # only completed invocations expire, whatever their record says
                not_done: invocation(Status.PAUSED, expires_at_ms=T0),
                InvocationId(5, 5): invocation(),
            }
        ),
    )
    assert set(await store.expired_invocations(P, T0 + 200, 10)) == {early, edge}
    assert await store.expired_invocations(P, T0 + 99, 10) == []
    assert len(await store.expired_invocations(P, T0 + 1_000, 2)) == 2
    assert set(await store.expired_invocations(P, T0 + 1_000, 10)) == {early, edge, late}


async def test_list_invocations_filters_by_status(store: Store) -> None:
    """list_invocations returns all invocations, or those of one status, up to `limit`."""
    rows = {
        InvocationId(1, 1): invocation(),
        InvocationId(2, 2): invocation(),
        InvocationId(3, 3): invocation(Status.SUSPENDED, waiting=Waiting(signal_indexes=(17,))),
        InvocationId(4, 4): completed(T0),
    }
    await commit(store, Batch(invocations=rows))
    everything = await store.list_invocations(None, 100)
    assert {row.invocation_id: row.invocation for row in everything} == rows
    running = await store.list_invocations(int(Status.RUNNING), 100)
    assert {row.invocation_id for row in running} == {InvocationId(1, 1), InvocationId(2, 2)}
    suspended = await store.list_invocations(Status.SUSPENDED, 100)
    assert [(r.invocation_id, r.invocation) for r in suspended] == [
        (InvocationId(3, 3), rows[InvocationId(3, 3)])
    ]
    assert await store.list_invocations(int(Status.PAUSED), 100) == []
    assert len(await store.list_invocations(None, 3)) == 3


# --- virtual objects, inboxes, state, promises ----------------------------------------------

CART: ObjectKey = ("Cart", "user-7")
CART_2: ObjectKey = ("Cart", "user-8")
SIGNUP: ObjectKey = ("Signup", "user-7")  # same key, other service


def promise_key(key: ObjectKey, name: str) -> PromiseKey:
    return key[0], key[1], name


async def test_objects_round_trip_and_are_replaced(store: Store) -> None:
    """Lock records come back as committed, only for keys that exist; a commit replaces them."""
    locked = ObjectRecord(locked_by=A.to_bytes(), next_seq=3, draining=False)
    draining = ObjectRecord(locked_by=None, next_seq=9, draining=True)
    await commit(store, Batch(objects={CART: locked, SIGNUP: draining}))
    assert await store.load_objects(P, [CART, CART_2, SIGNUP]) == {CART: locked, SIGNUP: draining}
    assert await store.load_objects(P, []) == {}
    released = ObjectRecord(locked_by=None, next_seq=3)
    await commit(store, Batch(objects={CART: released}))
    assert await store.load_objects(P, [CART]) == {CART: released}


async def test_inbox_heads_are_the_smallest_seq_or_none(store: Store) -> None:
    """load_inbox_heads gives each key its lowest queued seq (numerically), None when empty."""
    c, d = InvocationId(3, 3), InvocationId(4, 4)
    await commit(
        store, Batch(inbox_pushed=[(CART, 10, A), (CART, 2, B), (CART, 5, c), (SIGNUP, 0, d)])
    )
    heads = await store.load_inbox_heads(P, [CART, CART_2, SIGNUP])
    assert heads == {CART: (2, B), CART_2: None, SIGNUP: (0, d)}
    await commit(store, Batch(inbox_removed=[(CART, 2), (CART, 7)]))  # 7 was never queued
    assert await store.load_inbox_heads(P, [CART]) == {CART: (5, c)}
    await commit(store, Batch(inbox_removed=[(CART, 5), (CART, 10)]))
    assert await store.load_inbox_heads(P, [CART, SIGNUP]) == {CART: None, SIGNUP: (0, d)}
    assert await store.load_inbox_heads(P, []) == {}


async def test_inbox_push_and_remove_in_one_batch_leaves_it_out(store: Store) -> None:
    """An entry pushed and removed in the same batch (queued, then killed) is not stored."""
    await commit(store, Batch(inbox_pushed=[(CART, 0, A), (CART, 1, B)], inbox_removed=[(CART, 0)]))
    assert await store.load_inbox_heads(P, [CART]) == {CART: (1, B)}


async def test_state_set_delete_and_clear(store: Store) -> None:
    """State values are per key; None deletes one; a clear applies before the batch's sets."""
    await commit(
        store,
        Batch(
            state_set={
                (CART, "a"): b"1",
                (CART, "b"): b"2",
                (CART, "empty"): b"",
                (CART_2, "a"): b"x",
                (SIGNUP, "a"): b"y",
            }
        ),
    )
    assert await store.load_state(P, CART) == {"a": b"1", "b": b"2", "empty": b""}
    assert await store.load_state(P, ("Cart", "nobody")) == {}
    await commit(store, Batch(state_set={(CART, "a"): None, (CART, "c"): b"3"}))
    assert await store.load_state(P, CART) == {"b": b"2", "c": b"3", "empty": b""}
    await commit(store, Batch(state_cleared={CART}, state_set={(CART, "d"): b"4"}))
    assert await store.load_state(P, CART) == {"d": b"4"}
    assert await store.load_state(P, CART_2) == {"a": b"x"}
    assert await store.load_state(P, SIGNUP) == {"a": b"y"}


async def test_promises_put_and_clear(store: Store) -> None:
    """Promises round trip per (service, key, name); a clear applies before the batch's puts."""
    waiting = PromiseRecord(listeners=[(A.to_bytes(), 1), (B.to_bytes(), 4)])
    done = PromiseRecord(result=Result(failure=Failure(400, "no")))
    other = PromiseRecord(result=Result(value=b"v"))
    await commit(
        store,
        Batch(
            promises={
                promise_key(SIGNUP, "p1"): waiting,
                promise_key(SIGNUP, "p2"): done,
                promise_key(("Signup", "user-8"), "p1"): other,
            }
        ),
    )
    wanted = [promise_key(SIGNUP, n) for n in ("p1", "p2", "p3")]
    assert await store.load_promises(P, wanted) == {
        promise_key(SIGNUP, "p1"): waiting,
        promise_key(SIGNUP, "p2"): done,
    }
    assert await store.load_promises(P, []) == {}
    fresh = PromiseRecord(result=Result(value=b"new"))
    await commit(
        store, Batch(promises_cleared={SIGNUP}, promises={promise_key(SIGNUP, "p3"): fresh})
    )
    assert await store.load_promises(P, wanted) == {promise_key(SIGNUP, "p3"): fresh}
    kept = await store.load_promises(P, [promise_key(("Signup", "user-8"), "p1")])
    assert kept == {promise_key(("Signup", "user-8"), "p1"): other}


async def test_many_promises_load_at_once(store: Store) -> None:
    """A load of 1,000 keys (stored, missing, and sharing names across keys) finds each one."""
    stored = {
        promise_key(("Signup", f"user-{i}"), "p"): PromiseRecord(result=Result(value=b"%d" % i))
        for i in range(0, 1000, 3)
    }
    await commit(store, Batch(promises=stored))
    wanted = [promise_key(("Signup", f"user-{i}"), "p") for i in range(1000)]
    assert await store.load_promises(P, wanted) == stored


async def test_timers_keep_their_completion_id(store: Store) -> None:
    """Timers differing only in completion_id are distinct; removal needs the same id."""
    first = Timer(T0 + 100, A, TimerKind.SLEEP, 0, 1)
    second = Timer(T0 + 100, A, TimerKind.SLEEP, 0, 2)
    start = Timer(T0 + 50, B, TimerKind.INVOKE, 0)
    await commit(store, Batch(timers_added=[first, second, start]))
    due = await store.due_timers(P, T0 + 100, 10)
    assert due[0] == start
    assert sorted(due[1:], key=lambda t: t.completion_id) == [first, second]
    assert all(isinstance(t.kind, TimerKind) for t in due)
    await commit(store, Batch(timers_removed=[Timer(T0 + 100, A, TimerKind.SLEEP, 0, 3)]))
    assert len(await store.due_timers(P, T0 + 100, 10)) == 3
    await commit(store, Batch(timers_removed=[first, start]))
    assert await store.due_timers(P, T0 + 100, 10) == [second]


async def test_next_expiry_is_the_earliest_completed_retention_end(store: Store) -> None:
    """next_expiry_ms is the smallest expires_at of completed invocations, None without any."""
    assert await store.next_expiry_ms(P) is None
    early, late = InvocationId(1, 1), InvocationId(2, 2)
    await commit(
        store,
        Batch(
            invocations={
                late: completed(T0 + 300),
                early: completed(T0 + 100),
                InvocationId(3, 3): invocation(Status.PAUSED, expires_at_ms=T0),
            }
        ),
    )
    assert await store.next_expiry_ms(P) == T0 + 100
    await commit(store, Batch(deleted={early}))
    assert await store.next_expiry_ms(P) == T0 + 300
    await commit(store, Batch(invocations={late: invocation()}))  # created again: running
    assert await store.next_expiry_ms(P) is None


async def _keyed_rows(store: Store) -> tuple[object, ...]:
    return (
        await store.load_objects(P, [CART, CART_2]),
        await store.load_inbox_heads(P, [CART, CART_2]),
        await store.load_state(P, CART),
        await store.load_state(P, CART_2),
        await store.load_promises(P, [promise_key(CART, "p"), promise_key(CART_2, "p")]),
        await store.due_timers(P, T0 + 1_000, 10),
        await store.load_invocations(P, [A, B]),
    )


@pytest.mark.parametrize("failure", ["journal", "inbox", "unencodable", "overflow"])
async def test_failing_batch_leaves_no_keyed_changes(
    store: Store, backend: Backend, failure: str
) -> None:
    """A batch failing anywhere leaves objects, inbox, state, promises and timers as they were."""
    await commit(
        store,
        Batch(
            invocations={A: invocation()},
            journal=[(A, 0, INPUT)],
            objects={CART: ObjectRecord(locked_by=A.to_bytes(), next_seq=1)},
            inbox_pushed=[(CART, 0, B)],
            state_set={(CART, "a"): b"1"},
            promises={promise_key(CART, "p"): PromiseRecord(result=Result(value=b"v"))},
            timers_added=[Timer(T0 + 1, A, TimerKind.SLEEP, 0, 1)],
        ),
    )
    before = await _keyed_rows(store)
    promise = PromiseRecord(result=Result(value=b"w"))
    if failure == "unencodable":  # fails while encoding the last rows
        promise = PromiseRecord(result=Result(value=cast(bytes, object())))
    if failure == "overflow":  # a number past what the codec can store (a huge delay)
        promise = PromiseRecord(listeners=[(A.to_bytes(), 2**70)])
    bad = Batch(
        invocations={B: invocation()},
        journal=[(A, 0, INPUT)] if failure == "journal" else [(B, 0, INPUT)],
        timers_added=[Timer(T0 + 2, B, TimerKind.SLEEP, 0, 2)],
        timers_removed=[Timer(T0 + 1, A, TimerKind.SLEEP, 0, 1)],
        objects={CART: ObjectRecord(), CART_2: ObjectRecord(locked_by=B.to_bytes())},
        inbox_pushed=[(CART_2, 0, A), *([(CART, 0, A)] if failure == "inbox" else [])],
        inbox_removed=[(CART, 0)],
        state_cleared={CART},
        state_set={(CART_2, "b"): b"2"},
        promises_cleared={CART},
        promises={promise_key(CART_2, "p"): promise},
    )
    expected = {"unencodable": TypeError, "overflow": OverflowError}.get(
        failure, backend.integrity_error
    )
    with pytest.raises(expected):
        await commit(store, bad)
    assert await _keyed_rows(store) == before
    # The store is still usable after the rollback.
    await commit(store, Batch(state_set={(CART_2, "b"): b"2"}))
    assert await store.load_state(P, CART_2) == {"b": b"2"}


async def test_reopened_store_keeps_keyed_rows(backend: Backend) -> None:
    """Objects, inboxes, state and promises survive closing and re-opening the database."""
    first = await open_store(backend)
    record = ObjectRecord(locked_by=A.to_bytes(), next_seq=2)
    promise = PromiseRecord(listeners=[(B.to_bytes(), 3)])
    await commit(
        first,
        Batch(
            objects={CART: record},
            inbox_pushed=[(CART, 1, B)],
            state_set={(CART, "a"): b"1"},
            promises={promise_key(SIGNUP, "p"): promise},
        ),
    )
    await first.close()
    again = await open_store(backend)
    try:
        assert await again.load_objects(P, [CART]) == {CART: record}
        assert await again.load_inbox_heads(P, [CART]) == {CART: (1, B)}
        assert await again.load_state(P, CART) == {"a": b"1"}
        assert await again.load_promises(P, [promise_key(SIGNUP, "p")]) == {
            promise_key(SIGNUP, "p"): promise
        }
    finally:
        await again.close()


# --- partitions and epochs -------------------------------------------------------------------


async def test_each_lead_increments_the_partitions_epoch(store: Store) -> None:
    """lead() returns 1, 2, 3... per partition, independently of other partitions."""
    assert [await store.lead(3) for _ in range(3)] == [1, 2, 3]
    assert await store.lead(4) == 1
    assert await store.lead(3) == 4


async def test_commit_with_a_stale_epoch_is_fenced_and_writes_nothing(store: Store) -> None:
    """After another lead(), a commit with the old epoch raises FencedError and stores nothing."""
    old = await store.lead(P)
    await store.commit(P, old, Batch(invocations={A: invocation()}))
    new = await store.lead(P)
    with pytest.raises(FencedError) as raised:
        await store.commit(
            P,
            old,
            Batch(
                invocations={A: completed(T0), B: invocation()},
                journal=[(B, 0, INPUT)],
                timers_added=[Timer(T0, B, TimerKind.RETRY, 1)],
                state_set={(CART, "a"): b"1"},
            ),
        )
    assert (raised.value.partition, raised.value.epoch, raised.value.current) == (P, old, new)
    assert await store.load_invocations(P, [A, B]) == {A: invocation()}
    assert await store.load_journal(P, B) == []
    assert await store.next_timer_due_ms(P) is None
    assert await store.load_state(P, CART) == {}
    await store.commit(P, new, Batch(invocations={B: invocation()}))
    assert set(await store.load_invocations(P, [A, B])) == {A, B}


async def test_commit_to_a_partition_never_led_is_fenced(store: Store) -> None:
    """Nobody can write a partition without having led it: any epoch is refused."""
    with pytest.raises(FencedError):
        await store.commit(7, 1, Batch(invocations={A: invocation()}))
    assert await store.load_invocations(7, [A]) == {}


async def test_a_second_store_taking_the_lead_fences_the_first(backend: Backend) -> None:
    """Two stores over one database: the one that led last is the only one that can commit."""
    first, second = await open_store(backend), await open_store(backend)
    try:
        epoch_1 = await first.lead(P)
        await first.commit(P, epoch_1, Batch(invocations={A: invocation()}))
        epoch_2 = await second.lead(P)
        assert epoch_2 > epoch_1
        with pytest.raises(FencedError):
            await first.commit(P, epoch_1, Batch(invocations={A: completed(T0)}))
        await second.commit(P, epoch_2, Batch(invocations={B: invocation()}))
        assert await first.load_invocations(P, [A, B]) == {A: invocation(), B: invocation()}
    finally:
        await first.close()
        await second.close()


async def test_scans_see_only_their_partitions_rows(store: Store) -> None:
    """Recovery, timer and expiry scans of one partition never return another's rows."""
    epochs = {p: await store.lead(p) for p in (1, 2)}
    one, two = InvocationId(1, 1), InvocationId(2, 2)
    for p, iid, due in ((1, one, T0 + 10), (2, two, T0 + 20)):
        await store.commit(
            p,
            epochs[p],
            Batch(
                invocations={iid: invocation(), InvocationId(p, 99): completed(due)},
                timers_added=[Timer(due, iid, TimerKind.RETRY, 1)],
            ),
        )
    assert await store.running_invocations(1, None, 10) == [one]
    assert await store.running_invocations(2, None, 10) == [two]
    assert await store.due_timers(2, T0 + 100, 10) == [Timer(T0 + 20, two, TimerKind.RETRY, 1)]
    assert await store.next_timer_due_ms(2) == T0 + 20
    assert await store.next_expiry_ms(1) == T0 + 10
    assert await store.expired_invocations(2, T0 + 100, 10) == [InvocationId(2, 99)]
    assert await store.running_invocations(3, None, 10) == []
    assert await store.next_timer_due_ms(3) is None
    assert len(await store.list_invocations(None, 10)) == 4  # the admin sees every partition


async def test_timer_fields_hold_millisecond_timestamps(store: Store) -> None:
    """A timer's attempt and completion id take 64-bit values (the engine stores times there)."""
    timer = Timer(T0 + 1, A, TimerKind.INVOKE, T0, 2**40)
    await commit(store, Batch(timers_added=[timer]))
    assert await store.due_timers(P, T0 + 1, 10) == [timer]
    await commit(store, Batch(timers_removed=[timer]))
    assert await store.next_timer_due_ms(P) is None
