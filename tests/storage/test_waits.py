"""The waits table of every store (batch writes, paging newest first), and the cost of a page
with 100,000 pending awakeables on SQLite."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.storage.test_contract import backend, commit, store

from wakeful.engine.waits import WaitKind, WaitRow, WaitStatus
from wakeful.journal.entries import Result
from wakeful.journal.ids import AwakeableId, InvocationId
from wakeful.storage.api import Batch, Store, WaitQuery
from wakeful.storage.sqlite import SqliteStore

__all__ = ["backend", "store"]  # the contract suite's fixtures: these tests run on every store

T0 = 1_700_000_000_000
PENDING = int(WaitStatus.PENDING)
AWAKEABLE = int(WaitKind.AWAKEABLE)


def row(n: int, service: str = "Approvals") -> WaitRow:
    """The pending awakeable of invocation n (created at T0 + n)."""
    iid = InvocationId(n, n)
    return WaitRow(
        wait_id=str(AwakeableId(iid, 17)),
        kind=WaitKind.AWAKEABLE,
        invocation_id=iid.to_bytes(),
        handle=17,
        target=f"{service}/request",
        service=service,
        created_at_ms=T0 + n,
        description=f"expense {n}",
        schema=b'{"type": "boolean"}',
    )


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An open SQLite store in a fresh directory, leading partition 0."""
    opened = SqliteStore(tmp_path / "wakeful.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_rows_are_written_completed_closed_and_deleted_with_their_invocation(
    store: Store,
) -> None:
    """A batch's new rows, completions, closings and deletions all land in the table."""
    rows = [row(n) for n in range(1, 5)]
    await commit(store, Batch(waits={r.wait_id: r for r in rows}))
    done = Result(value=b"true")
    await commit(
        store,
        Batch(
            waits_completed={rows[0].wait_id: (T0 + 99, done)},
            waits_closed={InvocationId(2, 2)},
            deleted={InvocationId(3, 3)},
            wait_deadlines=[(InvocationId(4, 4), (17,), (), T0 + 500)],
        ),
    )
    first = await store.load_wait(rows[0].wait_id)
    assert first is not None
    assert (first.status, first.completed_at_ms, first.result) == (
        WaitStatus.COMPLETED,
        T0 + 99,
        done,
    )
    second = await store.load_wait(rows[1].wait_id)
    assert second is not None
    assert second.status == WaitStatus.CLOSED
    assert await store.load_wait(rows[2].wait_id) is None
    fourth = await store.load_wait(rows[3].wait_id)
    assert fourth is not None
    assert fourth.deadline_ms == T0 + 500
    assert fourth.description == "expense 4"
    assert fourth.schema == b'{"type": "boolean"}'


async def test_pages_go_newest_first_and_the_cursor_continues_without_overlap(
    store: Store,
) -> None:
    """Paging by (created at, id) visits every pending row once, newest first; a service
    filter lists only that service's rows."""
    rows = [row(n, "Approvals" if n % 2 else "Reviews") for n in range(1, 26)]
    await commit(store, Batch(waits={r.wait_id: r for r in rows}))
    seen: list[int] = []
    before = None
    while True:
        page = await store.list_waits(WaitQuery(AWAKEABLE, PENDING, limit=10, before=before))
        seen.extend(r.created_at_ms - T0 for r in page)
        if len(page) < 10:
            break
        before = (page[-1].created_at_ms, page[-1].wait_id)
    assert seen == list(range(25, 0, -1))
    reviews = await store.list_waits(WaitQuery(AWAKEABLE, PENDING, service="Reviews", limit=100))
    assert [r.created_at_ms - T0 for r in reviews] == list(range(24, 0, -2))


async def test_a_page_of_100000_pending_awakeables_lists_well_under_100_ms(
    sqlite_store: SqliteStore,
) -> None:
    """With 100,000 pending rows, the first page, a page deep down by cursor and a service
    filter each take well under 100 ms (they read one index range)."""
    total = 100_000
    for start in range(0, total, 20_000):
        chunk = [row(n, f"S{n % 10}") for n in range(start, start + 20_000)]
        await commit(sqlite_store, Batch(waits={r.wait_id: r for r in chunk}))
    deep = row(total // 2, f"S{(total // 2) % 10}")
    queries = {
        "first page": WaitQuery(AWAKEABLE, PENDING, limit=100),
        "deep page": WaitQuery(
            AWAKEABLE, PENDING, limit=100, before=(deep.created_at_ms, deep.wait_id)
        ),
        "one service": WaitQuery(AWAKEABLE, PENDING, service="S3", limit=100),
    }
    timings: dict[str, float] = {}
    for name, query in queries.items():
        await sqlite_store.list_waits(query)  # warm the page cache, as a running server has it
        started = time.perf_counter()
        page = await sqlite_store.list_waits(query)
        timings[name] = (time.perf_counter() - started) * 1000
        assert len(page) == 100
    print(
        f"list_waits with {total} pending: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in timings.items())
    )
    assert max(timings.values()) < 100, timings
