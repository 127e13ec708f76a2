"""The partition leader: applies events in order, one group commit per batch, then effects.

```
submit/post(event) ──► queue ──► [load missing rows] ──► engine.apply (each event, in order)
                                        ──► store.commit(batch)  (one transaction, one fsync)
                                        ──► answer submitters ──► run effects
```

Everything that arrives while a batch is being committed goes into the next batch. A submitter
is answered only after its event's changes are durable. Invocations that are running or backing
off stay cached in memory; suspended and completed ones live only in storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from wakeful.engine.effects import Effect, InvocationFinished
from wakeful.engine.events import (
    Attach,
    Event,
    Invoke,
    InvokeOutcome,
    LookupOutcome,
    PurgeExpired,
    TimerFired,
)
from wakeful.engine.machine import Applied, Engine
from wakeful.engine.model import Invocation, Status, Timer
from wakeful.journal.entries import Entry, Result
from wakeful.journal.ids import InvocationId
from wakeful.storage.api import Batch, Store

__all__ = ["BatchState", "Finished", "PartitionLeader"]

log = logging.getLogger(__name__)

_CACHED = frozenset({Status.RUNNING, Status.BACKING_OFF, Status.PENDING})
MAX_BATCH = 2048

Outcome = InvokeOutcome | LookupOutcome | bool | None
Finished = tuple[Result, int | None]  # an invocation's result and when it expires


class BatchState:
    """PartitionState over the leader's cache and freshly loaded rows, recording a Batch."""

    def __init__(
        self, cache: dict[InvocationId, Invocation], loaded: dict[InvocationId, Invocation]
    ) -> None:
        self.cache = cache
        self.loaded = loaded
        self.batch = Batch()

    def invocation(self, invocation_id: InvocationId) -> Invocation | None:
        batch = self.batch
        if invocation_id in batch.invocations:
            return batch.invocations[invocation_id]
        if invocation_id in batch.deleted:
            return None
        found = self.cache.get(invocation_id)
        return found if found is not None else self.loaded.get(invocation_id)

    def put_invocation(self, invocation_id: InvocationId, invocation: Invocation) -> None:
        self.batch.invocations[invocation_id] = invocation

    def append(self, invocation_id: InvocationId, index: int, entry: Entry) -> None:
        self.batch.journal.append((invocation_id, index, entry))

    def add_timer(self, timer: Timer) -> None:
        self.batch.timers_added.append(timer)

    def remove_timer(self, timer: Timer) -> None:
        self.batch.timers_removed.append(timer)

    def delete_invocation(self, invocation_id: InvocationId) -> None:
        batch = self.batch
        batch.invocations.pop(invocation_id, None)
        batch.journal = [row for row in batch.journal if row[0] != invocation_id]
        batch.deleted.add(invocation_id)


def _touched(event: Event) -> Iterable[InvocationId]:
    if isinstance(event, TimerFired):
        return (event.timer.invocation_id,)
    if isinstance(event, PurgeExpired):
        return event.invocation_ids
    return (event.invocation_id,)


class _Item:
    __slots__ = ("event", "future", "wants_result")

    def __init__(
        self, event: Event, future: asyncio.Future[Any] | None, wants_result: bool
    ) -> None:
        self.event = event
        self.future = future
        self.wants_result = wants_result


class PartitionLeader:
    """The single writer of a partition's state."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        on_effects: Callable[[list[Effect]], None],
    ) -> None:
        self.store = store
        self.engine = engine
        self._on_effects = on_effects
        self._queue: list[_Item] = []
        self._wake = asyncio.Event()
        self._cache: dict[InvocationId, Invocation] = {}
        self._waiters: dict[InvocationId, list[asyncio.Future[Finished]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.events = 0

    # -- API ----------------------------------------------------------------------------

    def post(self, event: Event) -> None:
        """Enqueue an event; nobody waits for its outcome."""
        self._queue.append(_Item(event, None, False))
        self._wake.set()

    async def submit(self, event: Event) -> Outcome:
        """Apply an event; return its outcome once its changes are durable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(event, future, False))
        self._wake.set()
        outcome: Outcome = await future
        return outcome

    async def submit_and_attach(
        self, event: Invoke | Attach
    ) -> tuple[Outcome, asyncio.Future[Finished] | None]:
        """Like submit; when the invocation is not completed yet, also a future of its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(event, future, True))
        self._wake.set()
        answer: tuple[Outcome, asyncio.Future[Finished] | None] = await future
        return answer

    def start(self) -> None:
        """Start the apply/commit loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="wakeful-leader")

    async def stop(self) -> None:
        """Stop the loop (events still queued are dropped; nothing was promised for them)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def cached(self) -> int:
        """How many invocation records are held in memory."""
        return len(self._cache)

    # -- the loop -----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            items, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._process(items)
            except Exception as e:  # storage failure: nothing of this batch is durable
                log.exception("partition leader failed to commit a batch")
                for item in items:
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(e)
                raise

    async def _load(self, events: Iterable[Event], loaded: dict[InvocationId, Invocation]) -> None:
        missing = {
            iid
            for event in events
            for iid in _touched(event)
            if iid not in self._cache and iid not in loaded
        }
        if missing:
            loaded.update(await self.store.load_invocations(missing))

    async def _process(self, items: list[_Item]) -> None:
        loaded: dict[InvocationId, Invocation] = {}
        await self._load((item.event for item in items), loaded)
        state = BatchState(self._cache, loaded)
        outcomes: list[Outcome] = []
        effects: list[Effect] = []
        for item in items:
            applied = self.engine.apply(state, item.event)
            outcomes.append(applied.outcome)
            effects.extend(applied.effects)
            await self._follow_up(state, applied, loaded, effects)
        await self.store.commit(state.batch)
        self.batches += 1
        self.events += len(items)
        self._update_cache(state.batch)
        for item, outcome in zip(items, outcomes, strict=True):
            if item.future is None or item.future.done():
                continue
            if item.wants_result:
                item.future.set_result((outcome, self._attach(item.event, outcome)))
            else:
                item.future.set_result(outcome)
        self._dispatch(effects)

    async def _follow_up(
        self,
        state: BatchState,
        applied: Applied,
        loaded: dict[InvocationId, Invocation],
        effects: list[Effect],
    ) -> None:
        pending = applied.follow_ups
        while pending:
            await self._load(pending, loaded)
            more: list[Event] = []
            for event in pending:
                result = self.engine.apply(state, event)
                effects.extend(result.effects)
                more.extend(result.follow_ups)
            pending = more

    def _update_cache(self, batch: Batch) -> None:
        for iid, inv in batch.invocations.items():
            if inv.status in _CACHED:
                self._cache[iid] = inv
            else:
                self._cache.pop(iid, None)
        for iid in batch.deleted:
            self._cache.pop(iid, None)

    def _attach(self, event: Event, outcome: Outcome) -> asyncio.Future[Finished] | None:
        iid = event.invocation_id  # type: ignore[union-attr]  # only Invoke/Attach attach
        status = outcome.status if isinstance(outcome, InvokeOutcome | LookupOutcome) else None
        if status is None or status == Status.COMPLETED:
            return None
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(iid, []).append(future)
        return future

    def _dispatch(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, InvocationFinished):
                for future in self._waiters.pop(effect.invocation_id, ()):
                    if not future.done():
                        future.set_result((effect.result, effect.expires_at_ms))
        if effects:
            self._on_effects(effects)

    def forget_waiter(self, invocation_id: InvocationId, future: asyncio.Future[Finished]) -> None:
        """Drop a waiter whose client went away."""
        waiters = self._waiters.get(invocation_id)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[invocation_id]
