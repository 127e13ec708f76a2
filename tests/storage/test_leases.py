"""Partition leases and process membership on PostgreSQL: expiry, takeover, fencing, release."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.support.postgres import postgres_schema

from wakeful.engine.model import Invocation, Status, Target
from wakeful.journal.ids import InvocationId
from wakeful.storage.api import Batch, FencedError, ProcessRow
from wakeful.storage.postgres import PostgresStore

A = InvocationId(1, 1)


def _inv(status: Status = Status.RUNNING) -> Invocation:
    return Invocation(Target("Greeter", "greet"), status, 1, 1)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores over one fresh database, as two processes would have."""
    with postgres_schema() as conninfo:
        one = PostgresStore(conninfo, min_connections=1)
        two = PostgresStore(conninfo, min_connections=1)
        await one.open()
        await two.open()
        yield one, two
        await one.close()
        await two.close()


async def test_a_held_lease_is_refused_until_it_expires(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    """While a lease runs nobody else gets the partition; once expired the next owner does, with
    a higher epoch, and the first owner can neither renew nor commit any more."""
    one, two = pair
    first = await one.acquire_lease(5, "p1", ttl_ms=300)
    assert first == 1
    assert await two.acquire_lease(5, "p2", ttl_ms=300) is None
    assert await one.renew_lease(5, "p1", first, ttl_ms=300)
    await one.commit(5, first, Batch(invocations={A: _inv()}))
    await asyncio.sleep(0.4)
    second = await two.acquire_lease(5, "p2", ttl_ms=5_000)
    assert second == 2
    assert not await one.renew_lease(5, "p1", first, ttl_ms=300)
    with pytest.raises(FencedError):  # what the epoch check stops: a deposed leader's write
        await one.commit(5, first, Batch(invocations={A: _inv(Status.SUSPENDED)}))
    await two.commit(5, second, Batch(invocations={A: _inv(Status.BACKING_OFF)}))
    assert (await two.load_invocations(5, [A]))[A].status == Status.BACKING_OFF


async def test_a_released_lease_is_taken_at_once(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    """release_lease lets another process take the partition without waiting for expiry."""
    one, two = pair
    epoch = await one.acquire_lease(0, "p1", ttl_ms=60_000)
    assert epoch is not None
    assert await two.acquire_lease(0, "p2", ttl_ms=60_000) is None
    await one.release_lease(0, "p1", epoch)
    assert await two.acquire_lease(0, "p2", ttl_ms=60_000) == epoch + 1


async def test_leases_and_processes_show_the_cluster(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    """leases() names each partition's owner with its addresses and time left; processes()
    lists the registered processes with their heartbeat age; a forgotten one disappears."""
    one, two = pair
    await one.heartbeat(ProcessRow("p1", "http://a:8080", "http://a:9070", 10, 0))
    await two.heartbeat(ProcessRow("p2", "http://b:8080", "http://b:9070", 20, 0))
    await one.acquire_lease(0, "p1", ttl_ms=10_000)
    await two.acquire_lease(1, "p2", ttl_ms=10_000)
    leases = await one.leases()
    assert [(lease.partition, lease.owner, lease.ingress_url) for lease in leases] == [
        (0, "p1", "http://a:8080"),
        (1, "p2", "http://b:8080"),
    ]
    assert all(0 < (lease.remaining_ms or 0) <= 10_000 for lease in leases)
    processes = await two.processes()
    assert {p.id: p.admin_url for p in processes} == {"p1": "http://a:9070", "p2": "http://b:9070"}
    assert all(0 <= p.heartbeat_age_ms < 5_000 for p in processes)
    await one.forget_process("p1")
    assert [p.id for p in await two.processes()] == ["p2"]
