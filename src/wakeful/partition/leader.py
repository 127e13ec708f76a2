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
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.engine.effects import AbortAttempt, Effect, InvocationFinished
from wakeful.engine.events import (
    AppendEntries,
    Attach,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Event,
    Invoke,
    InvokeOutcome,
    LookupOutcome,
    RecoverInvocation,
)
from wakeful.engine.machine import Applied, Engine
from wakeful.engine.model import (
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseKey,
    PromiseRecord,
    Status,
    Timer,
    TimerKind,
)
from wakeful.engine.reads import Reads, invocations_touched, reads_for
from wakeful.engine.state import INBOX_UNKNOWN, InboxHead
from wakeful.engine.waits import SignalOutcome, WaitRow, WaitStatus
from wakeful.errors import EngineUnavailableError
from wakeful.journal.entries import Entry, Failure, Result
from wakeful.journal.ids import InvocationId
from wakeful.partition.crashpoints import CrashPoint
from wakeful.storage.api import SINGLE_PARTITION, Batch, Store

__all__ = ["BatchState", "Finished", "Loaded", "Outcome", "PartitionLeader", "describe_error"]

log = logging.getLogger(__name__)

_CACHED = frozenset({Status.RUNNING, Status.BACKING_OFF, Status.PENDING})
MAX_BATCH = 2048
# Loop passes the leader lets go by before it takes the next batch. Committing a batch wakes
# attempts and requests whose next events (a handler's next step, its output) are one or two
# passes away; taken at once, the batch would leave them for the round after, a whole commit
# later. Measured with bench/ (workflow promise flows, 64 clients): 0 → 1,030-1,100 flows/s,
# 3 → 1,120-1,230; 6 and 10 were no better.
SETTLE_PASSES = 3

# How long an unhealthy leader waits between two probes of the store.
PROBE_INTERVAL_MS = 500

Outcome = InvokeOutcome | LookupOutcome | SignalOutcome | bool | None
Finished = tuple[Result, int | None]  # an invocation's result and when it expires
_AttemptEvent = AppendEntries | AttemptSuspended | AttemptCompleted | AttemptFailed
# A write that leaves nothing behind: a timer of no invocation, added and removed at once.
_PROBE_TIMER = Timer(0, InvocationId(0, 0), TimerKind.SLEEP, 0)


class Loaded:
    """Rows read from storage for one batch (before any of its changes)."""

    def __init__(self) -> None:
        self.invocations: dict[InvocationId, Invocation] = {}
        self.objects: dict[ObjectKey, ObjectRecord | None] = {}
        self.inbox_heads: dict[ObjectKey, tuple[int, InvocationId] | None] = {}
        self.promises: dict[PromiseKey, PromiseRecord | None] = {}


class BatchState:
    """PartitionState over the leader's cache and freshly loaded rows, recording a Batch."""

    def __init__(self, cache: dict[InvocationId, Invocation], loaded: Loaded) -> None:
        self.cache = cache
        self.loaded = loaded
        self.batch = Batch()
        # Copies of cached records this batch has read: the engine changes records in place,
        # and the cache must keep what is on disk until the batch is committed.
        self._touched: dict[InvocationId, Invocation] = {}

    def invocation(self, invocation_id: InvocationId) -> Invocation | None:
        batch = self.batch
        found = batch.invocations.get(invocation_id)
        if found is not None:
            return found
        if invocation_id in batch.deleted:
            return None
        found = self._touched.get(invocation_id)
        if found is not None:
            return found
        cached = self.cache.get(invocation_id)
        if cached is None:
            return self.loaded.invocations.get(invocation_id)  # fresh from storage: not shared
        copy = msgspec.structs.replace(
            cached, callers=list(cached.callers), children=list(cached.children)
        )
        self._touched[invocation_id] = copy
        return copy

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
        raw = invocation_id.to_bytes()
        for wait_id in [w for w, row in batch.waits.items() if row.invocation_id == raw]:
            del batch.waits[wait_id]
        batch.deleted.add(invocation_id)

    def object(self, key: ObjectKey) -> ObjectRecord | None:
        if key in self.batch.objects:
            return self.batch.objects[key]
        assert key in self.loaded.objects, f"object {key} was not loaded"
        return self.loaded.objects[key]

    def put_object(self, key: ObjectKey, record: ObjectRecord) -> None:
        self.batch.objects[key] = record

    def inbox_head(self, key: ObjectKey) -> InboxHead:
        if key not in self.loaded.inbox_heads:
            return INBOX_UNKNOWN
        removed = {seq for k, seq in self.batch.inbox_removed if k == key}
        stored = self.loaded.inbox_heads[key]
        if stored is not None:
            # Stored entries precede this batch's pushes; past the first stored one, which
            # this batch removed, the next stored entry was not loaded.
            return INBOX_UNKNOWN if stored[0] in removed else stored
        pushed = [
            (seq, iid) for k, seq, iid in self.batch.inbox_pushed if k == key and seq not in removed
        ]
        return min(pushed) if pushed else None

    def inbox_push(self, key: ObjectKey, seq: int, invocation_id: InvocationId) -> None:
        self.batch.inbox_pushed.append((key, seq, invocation_id))

    def inbox_remove(self, key: ObjectKey, seq: int) -> None:
        self.batch.inbox_removed.append((key, seq))

    def set_state(self, key: ObjectKey, name: str, value: bytes | None) -> None:
        self.batch.state_set[(key, name)] = value

    def clear_state(self, key: ObjectKey) -> None:
        batch = self.batch
        for state_key in [k for k in batch.state_set if k[0] == key]:
            del batch.state_set[state_key]
        batch.state_cleared.add(key)

    def promise(self, key: PromiseKey) -> PromiseRecord | None:
        if key in self.batch.promises:
            return self.batch.promises[key]
        if key[:2] in self.batch.promises_cleared:
            return None
        assert key in self.loaded.promises, f"promise {key} was not loaded"
        return self.loaded.promises[key]

    def put_promise(self, key: PromiseKey, record: PromiseRecord) -> None:
        self.batch.promises[key] = record

    def clear_promises(self, key: ObjectKey) -> None:
        batch = self.batch
        for promise_key in [k for k in batch.promises if k[:2] == key]:
            del batch.promises[promise_key]
        batch.promises_cleared.add(key)

    def put_wait(self, row: WaitRow) -> None:
        self.batch.waits.setdefault(row.wait_id, row)

    def complete_wait(self, wait_id: str, now_ms: int, result: Result) -> None:
        row = self.batch.waits.get(wait_id)
        if row is None:
            self.batch.waits_completed.setdefault(wait_id, (now_ms, result))
        elif row.status == WaitStatus.PENDING:
            row.status, row.completed_at_ms, row.result = WaitStatus.COMPLETED, now_ms, result

    def close_waits(self, invocation_id: InvocationId) -> None:
        self.batch.waits_closed.add(invocation_id)

    def set_deadline(
        self,
        invocation_id: InvocationId,
        signal_indexes: tuple[int, ...],
        completion_ids: tuple[int, ...],
        deadline_ms: int | None,
    ) -> None:
        self.batch.wait_deadlines.append(
            (invocation_id, signal_indexes, completion_ids, deadline_ms)
        )


class _Item:
    __slots__ = ("event", "future", "wants_result")

    def __init__(
        self, event: Event, future: asyncio.Future[Any] | None, wants_result: bool
    ) -> None:
        self.event = event
        self.future = future
        self.wants_result = wants_result


def describe_error(error: BaseException) -> str:
    """`Type: message`, the first error of a chain first: a failed clean-up (a ROLLBACK after
    a failed COMMIT) must not hide what went wrong."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 5:
        chain.append(current)
        current = current.__cause__ or current.__context__
    first, *later = reversed(chain)
    text = f"{type(first).__name__}: {first}"
    return text + "".join(f" (then {type(e).__name__}: {e})" for e in later)


class _Applied:
    """What a committed batch owes: outcomes to answer, effects to run, events to post."""

    __slots__ = ("deferred", "effects", "outcomes")

    def __init__(self, outcomes: list[Outcome], effects: list[Effect], deferred: list[Event]):
        self.outcomes = outcomes
        self.effects = effects
        self.deferred = deferred


class PartitionLeader:
    """The single writer of a partition's state.

    A batch whose commit fails changes nothing in memory (the engine works on copies of the
    cached records): its callers get an `EngineUnavailableError`, its effects are dropped, and
    the leader keeps serving. When even a probe write fails, the leader is unhealthy
    (`failure` names why) and probes the store until a write succeeds again.
    """

    def __init__(
        self,
        store: Store,
        engine: Engine,
        on_effects: Callable[[list[Effect]], None],
        clock: Clock = SYSTEM_CLOCK,
        partition: int = SINGLE_PARTITION,
    ) -> None:
        self.store = store
        self.partition = partition
        self.epoch: int | None = None  # from a lease, or taken from the store at the start
        self.engine = engine
        self.clock = clock
        self._on_effects = on_effects
        self._queue: list[_Item] = []
        self._wake = asyncio.Event()
        self._cache: dict[InvocationId, Invocation] = {}
        self._waiters: dict[InvocationId, list[asyncio.Future[Finished]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._inflight: list[_Item] = []
        self._held: list[Event] = []  # posted events of failed batches, posted again once healthy
        self._prober: asyncio.Task[None] | None = None
        self._reposter: asyncio.Task[None] | None = None
        self._crash = CrashPoint.from_env()
        self.failure: str | None = None  # why the store cannot be written, while it cannot
        self.failed_batches = 0
        self.batches = 0
        self.events = 0
        self.on_commit: Callable[[int, float], None] | None = None  # (events, seconds)

    # -- API ----------------------------------------------------------------------------

    def post(self, event: Event) -> None:
        """Enqueue an event; nobody waits for its outcome."""
        self._queue.append(_Item(event, None, False))
        self._wake.set()

    async def submit(self, event: Event) -> Outcome:
        """Apply an event; return its outcome once its changes are durable.

        Raises `EngineUnavailableError` when they could not be made durable.
        """
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

    def waiter_if_in_memory(self, invocation_id: InvocationId) -> asyncio.Future[Finished] | None:
        """A future of the result of an invocation held in memory, else None.

        Held in memory means its last committed status is running, backing off or pending, so
        it has not finished: the waiter is answered by the batch that finishes it, as one made
        by an `Attach` would be, without a round through the queue. (A batch updates the cache
        and answers its waiters without yielding in between.)
        """
        return self._new_waiter(invocation_id) if invocation_id in self._cache else None

    def start(self) -> None:
        """Start the apply/commit loop in a task of its own (unsupervised: tests)."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="wakeful-leader")

    async def stop(self) -> None:
        """Stop the loop. Events still queued are dropped (nothing of them is durable); whoever
        waits for one of them, or for an invocation's result, gets EngineUnavailableError
        rather than waiting forever (a leader stops when it loses its partition)."""
        for task in (self._task, self._prober, self._reposter):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._prober = self._reposter = None
        error = EngineUnavailableError("the partition leader stopped")
        queued, self._queue = [*self._inflight, *self._queue], []
        waiters, self._waiters = self._waiters, {}
        futures = [item.future for item in queued if item.future is not None]
        for future in [*futures, *(f for found in waiters.values() for f in found)]:
            if not future.done():
                future.set_exception(error)

    def reset(self, reason: str) -> None:
        """Forget what memory holds after the loop died: the batch it was in fails, the cache
        is dropped (storage is the truth), and queued events wait for the restarted loop."""
        error = EngineUnavailableError(f"the partition leader restarted: {reason}")
        for item in self._inflight:
            if item.future is not None and not item.future.done():
                item.future.set_exception(error)
        self._inflight = []
        self._cache.clear()

    async def settle(self, within: float) -> bool:
        """Wait until every queued event is applied and committed (False after `within` s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._queue or self._inflight:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    @property
    def cached(self) -> int:
        """How many invocation records are held in memory."""
        return len(self._cache)

    @property
    def idle(self) -> bool:
        """True when no event is queued or being applied."""
        return not self._queue and not self._inflight

    @property
    def result_waiters(self) -> int:
        """How many callers wait for an invocation's result (attach, call)."""
        return sum(len(futures) for futures in self._waiters.values())

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """The apply/commit loop; it ends only on a bug (or when cancelled)."""
        if self.epoch is None:
            # Taking the epoch fences any earlier leader of this partition out of its commits;
            # a leader started under a lease has its epoch already.
            self.epoch = await self.store.lead(self.partition)
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            for _ in range(SETTLE_PASSES):
                await asyncio.sleep(0)
            items, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._inflight = items
            try:
                applied = await self._apply_and_commit(items)
            except Exception as e:  # nothing of this batch is durable, and memory is unchanged
                await self._batch_failed(items, e)
            else:
                self._finish(items, applied)
            self._inflight = []

    async def _apply_and_commit(self, items: list[_Item]) -> _Applied:
        """Apply the batch's events and commit their changes; the cache follows on success."""
        state = BatchState(self._cache, Loaded())
        await self._load((item.event for item in items), state)
        outcomes: list[Outcome] = []
        effects: list[Effect] = []
        deferred: list[Event] = []
        for item in items:
            applied = self.engine.apply(state, item.event)
            outcomes.append(applied.outcome)
            effects.extend(applied.effects)
            deferred.extend(applied.deferred)
            await self._follow_up(state, applied, effects, deferred)
        if self._crash is not None:
            self._crash.reached("before_commit")
        started = time.perf_counter()
        await self._commit(state.batch)
        if self.on_commit is not None:
            self.on_commit(len(items), time.perf_counter() - started)
        if self._crash is not None:
            self._crash.reached("after_commit_before_answer")
        self.batches += 1
        self.events += len(items)
        self._update_cache(state.batch)
        if self.failure is not None:
            self._healthy_again()
        return _Applied(outcomes, effects, deferred)

    def _finish(self, items: list[_Item], applied: _Applied) -> None:
        """Answer the callers of a committed batch, then run its effects."""
        for item, outcome in zip(items, applied.outcomes, strict=True):
            if item.future is None or item.future.done():
                continue
            if item.wants_result:
                item.future.set_result((outcome, self._attach(item.event, outcome)))
            else:
                item.future.set_result(outcome)
        if self._crash is not None:
            self._crash.reached("after_answer_before_effects")
        self._dispatch(applied.effects)
        for event in applied.deferred:
            self.post(event)

    # -- failed batches -----------------------------------------------------------------

    async def _batch_failed(self, items: list[_Item], error: Exception) -> None:
        """Answer a failed batch; if the store still takes writes, retry its events one by one
        so that one bad event fails alone."""
        self.failed_batches += 1
        log.error(
            "partition leader could not commit a batch of %d events: %s",
            len(items),
            describe_error(error),
        )
        if not await self._probe():
            self._unhealthy(error)
            for item in items:
                self._reject(item, error)
            return
        if len(items) == 1:
            self._reject(items[0], error)
            return
        for item in items:
            try:
                applied = await self._apply_and_commit([item])
            except Exception as e:
                log.error(
                    "partition leader could not commit %s: %s",
                    type(item.event).__name__,
                    describe_error(e),
                )
                self._reject(item, e)
            else:
                self._finish([item], applied)

    def _reject(self, item: _Item, error: Exception) -> None:
        """Tell whoever waits for `item` that nothing of it was stored."""
        reason = describe_error(error)
        if item.future is not None:
            if not item.future.done():
                item.future.set_exception(
                    EngineUnavailableError(f"the engine could not store the request: {reason}")
                )
            return
        event = item.event
        if isinstance(event, _AttemptEvent):
            # The attempt's progress is lost: stop it, and let the engine decide what comes
            # next (a retry with backoff) once the store takes writes again.
            self._on_effects([AbortAttempt(event.invocation_id)])
            if isinstance(event, AttemptFailed) and not event.entries:
                held: Event = RecoverInvocation(event.invocation_id, self.clock.now_ms())
            else:
                failure = Failure(
                    503, f"the engine could not store the attempt's progress: {reason}"
                )
                held = AttemptFailed(
                    event.invocation_id, event.attempt, [], failure, self.clock.now_ms()
                )
            self._hold(held)
        else:
            self._hold(event)

    def _hold(self, event: Event) -> None:
        """Post `event` again later: once the store is healthy again, or, if it is (the event
        itself could not be stored), after a pause, so that an event that always fails
        cannot spin the leader."""
        self._held.append(event)
        if self.failure is None and (self._reposter is None or self._reposter.done()):
            self._reposter = asyncio.get_running_loop().create_task(self._post_held_later())

    async def _post_held_later(self) -> None:
        await self.clock.sleep_until(self.clock.now_ms() + PROBE_INTERVAL_MS)
        if self.failure is None:
            self._post_held()

    def _post_held(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self.post(event)

    async def _commit(self, batch: Batch) -> None:
        assert self.epoch is not None, "the loop takes its epoch before the first batch"
        await self.store.commit(self.partition, self.epoch, batch)

    async def _probe(self) -> bool:
        """True if the store takes a write right now."""
        batch = Batch(timers_added=[_PROBE_TIMER], timers_removed=[_PROBE_TIMER])
        try:
            await self._commit(batch)
        except Exception as e:
            log.debug("store probe failed: %s", describe_error(e))
            return False
        return True

    def _unhealthy(self, error: Exception) -> None:
        self.failure = f"the store cannot be written: {describe_error(error)}"
        log.error("partition leader unhealthy: %s", self.failure)
        if self._prober is None or self._prober.done():
            self._prober = asyncio.get_running_loop().create_task(
                self._probe_until_healthy(), name="wakeful-leader-probe"
            )

    def _healthy_again(self) -> None:
        log.warning("partition leader healthy again (was: %s)", self.failure)
        self.failure = None
        self._post_held()

    async def _probe_until_healthy(self) -> None:
        while self.failure is not None:
            await self.clock.sleep_until(self.clock.now_ms() + PROBE_INTERVAL_MS)
            if self.failure is not None and await self._probe():
                self._healthy_again()

    # -- loading ------------------------------------------------------------------------

    async def _load(self, events: Iterable[Event], state: BatchState) -> None:
        """Load what `events` will read and is not in memory yet."""
        events = list(events)
        loaded = state.loaded
        missing = self._missing_invocations(events, state)
        if missing:
            loaded.invocations.update(await self.store.load_invocations(self.partition, missing))
        rows = self._missing_rows(events, state)
        if rows is None:
            return
        if rows.objects:
            found = await self.store.load_objects(self.partition, rows.objects)
            loaded.objects.update({key: found.get(key) for key in rows.objects})
        if rows.inbox_heads:
            loaded.inbox_heads.update(
                await self.store.load_inbox_heads(self.partition, rows.inbox_heads)
            )
        if rows.promises:
            found_promises = await self.store.load_promises(self.partition, rows.promises)
            loaded.promises.update({key: found_promises.get(key) for key in rows.promises})

    def _missing_invocations(self, events: Iterable[Event], state: BatchState) -> set[InvocationId]:
        """Invocation records `events` read that are neither cached nor loaded."""
        loaded = state.loaded.invocations
        return {
            iid
            for event in events
            for iid in invocations_touched(event)
            if iid not in self._cache and iid not in loaded
        }

    def _missing_rows(self, events: Iterable[Event], state: BatchState) -> Reads | None:
        """Keyed rows `events` read that are not loaded yet; None if there are none."""
        loaded = state.loaded
        reads = Reads()
        for event in events:
            reads_for(event, state.invocation, reads)
        reads.objects -= loaded.objects.keys()
        reads.inbox_heads -= loaded.inbox_heads.keys()
        reads.promises -= loaded.promises.keys()
        return reads if reads.objects or reads.inbox_heads or reads.promises else None

    def _in_memory(self, event: Event, state: BatchState) -> bool:
        """True if everything `event` reads is in memory already (most follow-ups)."""
        return not self._missing_invocations((event,), state) and (
            self._missing_rows((event,), state) is None
        )

    async def _follow_up(
        self,
        state: BatchState,
        applied: Applied,
        effects: list[Effect],
        deferred: list[Event],
    ) -> None:
        pending = applied.follow_ups
        while pending:
            more: list[Event] = []
            for event in pending:
                if not self._in_memory(event, state):
                    await self._load([event], state)
                result = self.engine.apply(state, event)
                effects.extend(result.effects)
                deferred.extend(result.deferred)
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

    # -- waiters ------------------------------------------------------------------------

    def _attach(self, event: Event, outcome: Outcome) -> asyncio.Future[Finished] | None:
        iid = event.invocation_id  # type: ignore[union-attr]  # only Invoke/Attach attach
        status = outcome.status if isinstance(outcome, InvokeOutcome | LookupOutcome) else None
        if status is None or status == Status.COMPLETED:
            return None
        return self._new_waiter(iid)

    def _new_waiter(self, invocation_id: InvocationId) -> asyncio.Future[Finished]:
        """A future answered by the `InvocationFinished` of `invocation_id`."""
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(invocation_id, []).append(future)
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
