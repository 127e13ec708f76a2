"""The partition leader applies the next batch while the previous one commits, and answers in
commit order only after the commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wakeful.engine.effects import Effect
from wakeful.engine.events import Attach, Invoke, InvokeOutcome, LookupOutcome
from wakeful.engine.machine import Engine
from wakeful.engine.model import Status, Target
from wakeful.journal.ids import InvocationId
from wakeful.server.leader import MAX_UNCONFIRMED, PartitionLeader
from wakeful.storage.api import Batch
from wakeful.storage.sqlite import SqliteStore


class SlowStore(SqliteStore):
    """A SQLite store whose commits take a while, recording which batches are durable."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.durable: set[InvocationId] = set()

    async def commit(self, batch: Batch) -> None:
        await asyncio.sleep(0.005)
        await super().commit(batch)
        self.durable.update(batch.invocations)


async def test_every_submitter_is_answered_after_its_batch_is_durable(tmp_path: Path) -> None:
    """A burst larger than the pipeline is all answered, each only once its row is committed."""
    store = SlowStore(tmp_path / "db.sqlite")
    await store.open()
    effects: list[Effect] = []
    leader = PartitionLeader(store, Engine(), effects.extend)
    leader.start()
    try:
        target = Target("Svc", "h")

        async def invoke(n: int) -> InvocationId:
            iid = InvocationId(1, n)
            outcome = await leader.submit(Invoke(iid, target, b"", [], 0, fresh=True))
            assert isinstance(outcome, InvokeOutcome)
            assert outcome.created
            assert iid in store.durable  # answered only after the commit
            return iid

        ids: list[InvocationId] = []
        for wave in range(MAX_UNCONFIRMED * 3):  # many small batches: the pipeline fills up
            ids += await asyncio.wait_for(
                asyncio.gather(*(invoke(wave * 50 + n) for n in range(50))), 10
            )
        assert len(set(ids)) == len(ids)
        # A read after the burst sees every row (from memory or storage).
        outcome = await leader.submit(Attach(ids[0]))
        assert isinstance(outcome, LookupOutcome)
        assert outcome.status == Status.RUNNING
        assert leader.batches >= MAX_UNCONFIRMED
    finally:
        await leader.stop()
        await store.close()
