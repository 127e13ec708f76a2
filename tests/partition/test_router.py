"""The router sends each event to the partition that owns its invocation or object key."""

from __future__ import annotations

from typing import Any

import pytest

from wakeful.engine.events import Attach, CompletePromise, PurgeExpired, StartInboxed, TimerFired
from wakeful.engine.model import Timer, TimerKind
from wakeful.journal.entries import Result
from wakeful.journal.ids import InvocationId, partition_key_for
from wakeful.partition.router import Router, partition_key_of, partition_of

U64 = 1 << 64


def test_key_space_is_cut_into_equal_ranges() -> None:
    """Partition i owns [i * 2^64 / n, (i + 1) * 2^64 / n): ends and middles land as expected."""
    assert partition_of(0, 4) == 0
    assert partition_of(U64 // 4 - 1, 4) == 0
    assert partition_of(U64 // 4, 4) == 1
    assert partition_of(U64 - 1, 4) == 3
    assert {partition_of(k, 1) for k in (0, U64 // 2, U64 - 1)} == {0}


def test_an_object_key_and_its_invocations_share_a_partition() -> None:
    """A released object key routes where the object's invocations (and timers) route."""
    iid = InvocationId.for_workflow("Signup", "user-7")
    timer = Timer(0, iid, TimerKind.SLEEP, 1)
    assert partition_key_of(StartInboxed("Signup", "user-7", 0)) == partition_key_for("user-7")
    assert partition_key_of(Attach(iid)) == iid.partition_key == partition_key_for("user-7")
    assert partition_key_of(TimerFired(timer, 0)) == iid.partition_key
    assert partition_key_of(PurgeExpired([iid], 0)) == iid.partition_key
    completed = CompletePromise("Signup", "user-7", "approved", Result(value=b"true"), 0)
    assert partition_key_of(completed) == iid.partition_key  # a promise lives with its workflow


class _Recorder:
    """Stands in for a leader: records what was posted to it."""

    def __init__(self) -> None:
        self.posted: list[Any] = []

    def post(self, event: Any) -> None:
        self.posted.append(event)


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_router_posts_to_the_owning_leader(partitions: int) -> None:
    """Each event reaches exactly the leader whose range holds its partition key."""
    leaders = [_Recorder() for _ in range(partitions)]
    router = Router(leaders)  # type: ignore[arg-type]  # duck-typed leaders
    keys = [f"key-{n}" for n in range(50)]
    for key in keys:
        router.post(Attach(InvocationId.for_workflow("W", key)))
    for index, leader in enumerate(leaders):
        for event in leader.posted:
            assert partition_of(event.invocation_id.partition_key, partitions) == index
    assert sum(len(leader.posted) for leader in leaders) == len(keys)
    if partitions > 1:
        assert sum(1 for leader in leaders if leader.posted) > 1  # the keys spread out
