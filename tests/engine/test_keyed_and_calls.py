"""Virtual object keys, state, promises, timers, calls and cancellation in the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wakeful.engine.commands import callee_id
from wakeful.engine.effects import (
    AbortAttempt,
    EntriesAppended,
    InvocationFinished,
    StartAttempt,
    TimerScheduled,
)
from wakeful.engine.events import (
    AddCaller,
    AppendEntries,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Cancel,
    DeliverCompletion,
    DeliverSignal,
    Event,
    Invoke,
    InvokeOutcome,
    Kill,
    LookupOutcome,
    PurgeExpired,
    ResumeInvocation,
    StartInboxed,
    StartInvocation,
    TimerFired,
)
from wakeful.engine.machine import Applied, Engine, EngineConfig
from wakeful.engine.model import (
    HandlerKind,
    Invocation,
    ObjectKey,
    ObjectRecord,
    PromiseRecord,
    RetryPolicy,
    Status,
    Target,
    Timer,
    TimerKind,
    Waiting,
)
from wakeful.engine.reads import invocations_touched, reads_for
from wakeful.engine.state import MemoryState, PartitionState
from wakeful.journal.entries import (
    AttachInvocationCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    CompletePromiseCommand,
    CompletionNotification,
    Entry,
    Failure,
    GetPromiseCommand,
    InputCommand,
    OneWayCallCommand,
    OutputCommand,
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalNotification,
    SleepCommand,
)
from wakeful.journal.ids import InvocationId
from wakeful.partition.leader import BatchState, Loaded
from wakeful.storage.api import Batch

T0 = 1_700_000_000_000
RETENTION_MS = 60_000
HEADERS = [("content-type", "application/json")]
KEY = "k"

ADD = Target("Counter", "add", KEY)  # exclusive
GET = Target("Counter", "get", KEY)  # shared
ADD_OTHER = Target("Counter", "add", "other")
RUN = Target("Signup", "run", KEY)  # workflow run
STATUS = Target("Signup", "status", KEY)  # workflow shared handler
GREET = Target("Greeter", "greet")  # plain service
COUNTER_KEY: ObjectKey = ("Counter", KEY)
SIGNUP_KEY: ObjectKey = ("Signup", KEY)

KINDS = {
    ("Counter", "add"): HandlerKind.EXCLUSIVE,
    ("Counter", "get"): HandlerKind.SHARED,
    ("Signup", "run"): HandlerKind.WORKFLOW,
    ("Signup", "status"): HandlerKind.WORKFLOW_SHARED,
    ("Greeter", "greet"): HandlerKind.SERVICE,
}

A = InvocationId(3, 1)
B = InvocationId(3, 2)
C = InvocationId(3, 3)
D = InvocationId(3, 4)
W = InvocationId.for_workflow("Signup", KEY)

KILLED = Result(failure=Failure(409, "killed"))
CANCELED = Result(failure=Failure(409, "canceled"))
VOID = Result(value=None)
ALIVE = frozenset({Status.RUNNING, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED})


def ok(value: bytes = b"done") -> Result:
    return Result(value=value)


def handler_kind(target: Target) -> HandlerKind | None:
    return KINDS.get((target.service, target.handler))


def make_engine(policy: RetryPolicy | None = None) -> Engine:
    chosen = policy or RetryPolicy()
    return Engine(
        EngineConfig(
            retry_policy=lambda _: chosen,
            completion_retention_ms=lambda _, __: RETENTION_MS,
            handler_kind=handler_kind,
            # These tests deliver signals by index alone (tests/engine/test_waits.py covers
            # the refusal of indexes an invocation never created).
            tracks_awakeables=lambda _: False,
        )
    )


class Harness:
    """One engine over one MemoryState; `drive` applies follow-ups and deferred events too."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.engine = make_engine(policy)
        self.state = MemoryState()

    def apply(self, event: Event) -> Applied:
        return self.engine.apply(self.state, event)

    def drive(self, event: Event) -> list[Applied]:
        """Apply `event` like the leader: follow-ups in the batch, deferred ones after it."""
        results: list[Applied] = []
        queue = [event]
        while queue:
            deferred: list[Event] = []
            for first in queue:
                pending = [first]
                while pending:
                    more: list[Event] = []
                    for ev in pending:
                        applied = self.apply(ev)
                        results.append(applied)
                        deferred.extend(applied.deferred)
                        more.extend(applied.follow_ups)
                    pending = more
            queue = deferred
        return results

    def inv(self, iid: InvocationId) -> Invocation:
        record = self.state.invocation(iid)
        assert record is not None
        return record

    def journal(self, iid: InvocationId) -> list[Entry]:
        return self.state.journals.get(iid, [])

    def invoke(self, iid: InvocationId, target: Target, now: int = T0) -> list[Applied]:
        kind = handler_kind(target)
        assert kind is not None
        return self.drive(Invoke(iid, target, b"in", HEADERS, now, kind=kind))

    def append(self, iid: InvocationId, entries: list[Entry], now: int = T0) -> list[Applied]:
        return self.drive(AppendEntries(iid, self.inv(iid).attempt, entries, now))

    def suspend(self, iid: InvocationId, waiting: Waiting, now: int = T0) -> list[Applied]:
        inv = self.inv(iid)
        event = AttemptSuspended(iid, inv.attempt, [], waiting, inv.journal_length, now)
        return self.drive(event)

    def complete(
        self,
        iid: InvocationId,
        result: Result | None = None,
        now: int = T0,
        entries: list[Entry] | None = None,
    ) -> list[Applied]:
        attempt = self.inv(iid).attempt
        return self.drive(AttemptCompleted(iid, attempt, entries or [], result or ok(), now))


def effects_of(results: list[Applied]) -> list[object]:
    return [effect for applied in results for effect in applied.effects]


def started(results: list[Applied]) -> list[InvocationId]:
    return [e.invocation_id for e in effects_of(results) if isinstance(e, StartAttempt)]


def snapshot(h: Harness) -> bytes:
    """Everything in the state, encoded, so that in-place mutation is detected too."""
    s = h.state
    return msgspec.msgpack.encode(
        (
            sorted(s.invocations.items()),
            sorted(s.journals.items()),
            sorted(msgspec.msgpack.encode(t) for t in s.timers),
            sorted(s.objects.items()),
            sorted((k, sorted(v.items())) for k, v in s.inboxes.items()),
            sorted((k, sorted(v.items())) for k, v in s.state.items()),
            sorted(s.promises.items()),
        )
    )


def queue_three_behind_a(h: Harness) -> None:
    """A holds the Counter key's lock; B, C and D wait in its inbox, in that order."""
    h.invoke(A, ADD)
    for n, iid in enumerate((B, C, D)):
        h.invoke(iid, ADD, now=T0 + n + 1)


# --- the per-key lock and inbox ----------------------------------------------------------------


def test_first_exclusive_invocation_runs_and_locks_its_key() -> None:
    """The first exclusive invocation of a key starts at once and becomes the lock holder."""
    h = Harness()
    applied = h.apply(Invoke(A, ADD, b"in", HEADERS, T0, kind=HandlerKind.EXCLUSIVE))
    assert applied.outcome == InvokeOutcome(A, True, Status.RUNNING)
    assert applied.effects == [StartAttempt(A, 1, ADD, [InputCommand(HEADERS, b"in")], None)]
    assert h.state.objects[COUNTER_KEY] == ObjectRecord(locked_by=A.to_bytes(), next_seq=0)
    assert h.inv(A).inbox_seq is None


def test_later_exclusive_invocations_are_inboxed_in_arrival_order() -> None:
    """While the key is locked, exclusive invocations queue with increasing inbox seqs."""
    h = Harness()
    h.invoke(A, ADD)
    for n, iid in enumerate((B, C, D)):
        (applied,) = h.invoke(iid, ADD, now=T0 + n + 1)
        assert applied.outcome == InvokeOutcome(iid, True, Status.INBOXED)
        assert applied.effects == []
        assert (h.inv(iid).status, h.inv(iid).attempt, h.inv(iid).inbox_seq) == (
            Status.INBOXED,
            0,
            n,
        )
        assert h.journal(iid) == [InputCommand(HEADERS, b"in")]
    assert h.state.inboxes[COUNTER_KEY] == {0: B, 1: C, 2: D}
    assert h.state.objects[COUNTER_KEY] == ObjectRecord(locked_by=A.to_bytes(), next_seq=3)


def test_completing_the_holder_hands_the_lock_to_the_inbox_head_in_arrival_order() -> None:
    """Each time the holder ends, the inbox head (lowest seq) takes the lock and starts."""
    h = Harness()
    queue_three_behind_a(h)
    for holder, successor, now in ((A, B, T0 + 10), (B, C, T0 + 20), (C, D, T0 + 30)):
        results = h.complete(holder, now=now)
        assert results[0].follow_ups == [StartInvocation(successor, now)]
        assert results[0].deferred == []
        assert started(results) == [successor]
        assert StartAttempt(successor, 1, ADD, None, None) in effects_of(results)
        inv = h.inv(successor)
        assert (inv.status, inv.attempt, inv.inbox_seq) == (Status.RUNNING, 1, None)
        assert h.state.objects[COUNTER_KEY].locked_by == successor.to_bytes()
        assert successor not in h.state.inboxes[COUNTER_KEY].values()
    h.complete(D, now=T0 + 40)
    assert h.state.objects[COUNTER_KEY] == ObjectRecord(locked_by=None, next_seq=3)
    assert h.state.inboxes[COUNTER_KEY] == {}
    (late,) = h.invoke(InvocationId(3, 9), ADD, now=T0 + 50)
    assert late.outcome == InvokeOutcome(InvocationId(3, 9), True, Status.RUNNING)


def test_shared_handlers_and_other_keys_are_not_blocked_by_the_lock() -> None:
    """A shared handler of the locked key, another key and a plain service all start at once."""
    h = Harness()
    h.invoke(A, ADD)
    for iid, target in ((B, GET), (C, ADD_OTHER), (D, GREET)):
        (applied,) = h.invoke(iid, target)
        assert applied.outcome == InvokeOutcome(iid, True, Status.RUNNING)
        assert started([applied]) == [iid]
    assert h.state.objects[COUNTER_KEY].locked_by == A.to_bytes()
    assert h.state.objects[("Counter", "other")].locked_by == C.to_bytes()
    assert h.state.inboxes == {}
    h.complete(B)  # a shared handler ending leaves the exclusive holder's lock alone
    assert h.state.objects[COUNTER_KEY].locked_by == A.to_bytes()


@pytest.mark.parametrize(
    ("make", "result"),
    [(Kill, KILLED), (Cancel, CANCELED)],
    ids=["kill", "cancel"],
)
def test_ending_an_inboxed_invocation_removes_it_and_keeps_the_order_of_the_rest(
    make: type[Kill] | type[Cancel], result: Result
) -> None:
    """Kill/cancel of a queued invocation answers 409, leaves the inbox; the others keep order."""
    h = Harness()
    queue_three_behind_a(h)
    applied = h.apply(make(C, T0 + 5))
    assert applied.outcome == LookupOutcome(Status.INBOXED)
    assert applied.effects == [InvocationFinished(C, result, T0 + 5 + RETENTION_MS)]
    inv = h.inv(C)
    assert (inv.status, inv.result, inv.inbox_seq) == (Status.COMPLETED, result, None)
    assert h.journal(C) == [InputCommand(HEADERS, b"in"), OutputCommand(result)]
    assert h.state.inboxes[COUNTER_KEY] == {0: B, 2: D}
    assert h.state.objects[COUNTER_KEY].locked_by == A.to_bytes()
    assert started(h.complete(A, now=T0 + 10)) == [B]
    assert started(h.complete(B, now=T0 + 20)) == [D]
    assert h.state.inboxes[COUNTER_KEY] == {}


# --- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "writes"),
    [(ADD, True), (RUN, True), (GET, False), (STATUS, False)],
    ids=["exclusive", "workflow", "shared", "workflow-shared"],
)
def test_state_commands_write_only_for_writer_kinds(target: Target, writes: bool) -> None:
    """Set/Clear/ClearAll change the key's state for exclusive and workflow runs, else nothing."""
    h = Harness()
    key = (target.service, KEY)
    other = (target.service, "other")
    h.state.state[key] = {"keep": b"0", "gone": b"1"}
    h.state.state[other] = {"x": b"9"}
    h.invoke(A, target)
    commands: list[Entry] = [SetStateCommand("a", b"1"), ClearStateCommand("gone")]
    h.append(A, commands)
    assert h.journal(A)[1:] == commands  # journaled either way
    expected = {"keep": b"0", "a": b"1"} if writes else {"keep": b"0", "gone": b"1"}
    assert h.state.state[key] == expected
    h.append(A, [ClearAllStateCommand()])
    assert h.state.state.get(key, {}) == ({} if writes else expected)
    assert h.state.state[other] == {"x": b"9"}


# --- promises ------------------------------------------------------------------------------------


def test_get_promise_before_completion_registers_a_listener_that_completion_wakes() -> None:
    """GetPromise waits as a listener; CompletePromise delivers to it and answers void."""
    h = Harness()
    h.invoke(W, RUN)
    h.invoke(A, STATUS)
    (get,) = h.append(A, [GetPromiseCommand("approved", 1)])
    assert get.follow_ups == []
    assert h.state.promises[("Signup", KEY, "approved")] == PromiseRecord(None, [(A.to_bytes(), 1)])
    h.suspend(A, Waiting(completion_ids=(1,)))
    results = h.append(W, [CompletePromiseCommand("approved", ok(b"yes"), 2)], now=T0 + 5)
    assert results[0].follow_ups == [
        DeliverCompletion(A, 1, ok(b"yes"), T0 + 5),
        DeliverCompletion(W, 2, VOID, T0 + 5),
    ]
    assert h.state.promises[("Signup", KEY, "approved")] == PromiseRecord(ok(b"yes"), [])
    assert h.journal(A)[-1] == CompletionNotification(1, ok(b"yes"))
    assert (h.inv(A).status, h.inv(A).attempt) == (Status.RUNNING, 2)
    assert StartAttempt(A, 2, STATUS, None, None) in effects_of(results)
    assert h.journal(W)[-1] == CompletionNotification(2, VOID)


def test_second_complete_promise_answers_409_and_keeps_the_first_value() -> None:
    """Completing a completed promise fails with 409 for the completer; the value stays."""
    h = Harness()
    h.invoke(W, RUN)
    h.append(W, [CompletePromiseCommand("approved", ok(b"yes"), 1)])
    results = h.append(W, [CompletePromiseCommand("approved", ok(b"no"), 2)])
    refused = Result(failure=Failure(409, "promise was already completed"))
    assert results[0].follow_ups == [DeliverCompletion(W, 2, refused, T0)]
    assert h.journal(W)[-1] == CompletionNotification(2, refused)
    assert h.state.promises[("Signup", KEY, "approved")] == PromiseRecord(ok(b"yes"), [])


def test_peek_promise_is_void_before_and_the_value_after_completion() -> None:
    """PeekPromise answers void while unresolved, the value once completed; it never waits."""
    h = Harness()
    h.invoke(W, RUN)
    before = h.append(W, [PeekPromiseCommand("approved", 1)])[0]
    assert before.follow_ups == [DeliverCompletion(W, 1, VOID, T0)]
    assert ("Signup", KEY, "approved") not in h.state.promises  # a peek registers nothing
    h.append(W, [CompletePromiseCommand("approved", ok(b"yes"), 2)])
    after = h.append(W, [PeekPromiseCommand("approved", 3)])[0]
    assert after.follow_ups == [DeliverCompletion(W, 3, ok(b"yes"), T0)]
    assert h.journal(W)[-1] == CompletionNotification(3, ok(b"yes"))


def test_get_promise_after_completion_is_delivered_at_once() -> None:
    """GetPromise of a completed promise completes immediately and adds no listener."""
    h = Harness()
    h.invoke(W, RUN)
    h.invoke(A, STATUS)
    h.append(W, [CompletePromiseCommand("approved", Result(failure=Failure(400, "no")), 1)])
    get = h.append(A, [GetPromiseCommand("approved", 4)])[0]
    rejected = Result(failure=Failure(400, "no"))
    assert get.follow_ups == [DeliverCompletion(A, 4, rejected, T0)]
    assert h.journal(A)[-1] == CompletionNotification(4, rejected)
    assert h.state.promises[("Signup", KEY, "approved")].listeners == []


# --- workflows -----------------------------------------------------------------------------------


def test_calling_a_workflow_run_again_answers_409_to_the_caller() -> None:
    """A second Invoke of a workflow run with a caller completes the caller with 409."""
    h = Harness()
    h.invoke(W, RUN)
    h.invoke(A, GREET)
    call = CallCommand("Signup", "run", KEY, b"again", HEADERS, W.to_bytes(), 1)
    results = h.append(A, [call], now=T0 + 3)
    (duplicate,) = [r for r in results if isinstance(r.outcome, InvokeOutcome)]
    assert duplicate.outcome == InvokeOutcome(W, False, Status.RUNNING)
    already = Result(failure=Failure(409, "the workflow method was already invoked"))
    assert duplicate.follow_ups == [DeliverCompletion(A, 1, already, T0 + 3)]
    assert h.journal(A)[-1] == CompletionNotification(1, already)
    assert h.inv(W).callers == []
    assert h.journal(W) == [InputCommand(HEADERS, b"in")]


def test_a_call_to_a_workflow_run_gets_the_run_id_whatever_the_caller_recorded() -> None:
    """The engine owns callee ids: a generic call that recorded a position-derived id for a
    workflow run still reaches the key's one run (it runs once per key)."""
    h = Harness()
    h.invoke(A, GREET)
    recorded = callee_id(A, 1, RUN, None, workflow_run=False)
    assert recorded != W
    call = CallCommand("Signup", "run", KEY, b"go", HEADERS, recorded.to_bytes(), 1)
    results = h.append(A, [call], now=T0 + 3)
    assert started(results) == [W]
    assert h.inv(A).children == [W.to_bytes()]


def test_callee_ids_follow_the_caller_and_the_command_position() -> None:
    """The derivation: stable for a position, different for another position or caller."""
    first = callee_id(A, 1, GREET, None, workflow_run=False)
    assert first == callee_id(A, 1, GREET, None, workflow_run=False)
    assert first != callee_id(A, 2, GREET, None, workflow_run=False)
    assert first != callee_id(B, 1, GREET, None, workflow_run=False)
    assert first.partition_key == A.partition_key
    keyed = callee_id(A, 1, ADD, "idem", workflow_run=False)
    assert keyed == InvocationId.for_idempotency_key("Counter", "add", KEY, "idem")
    assert callee_id(A, 7, RUN, None, workflow_run=True) == W


def test_purging_a_workflow_run_clears_its_state_and_promises_only() -> None:
    """Purging an expired workflow run deletes its key's state and promises, not other keys'."""
    h = Harness()
    other_run = InvocationId.for_workflow("Signup", "other")
    h.invoke(W, RUN)
    h.invoke(other_run, Target("Signup", "run", "other"))
    h.invoke(A, STATUS)
    for iid in (W, other_run):
        h.append(iid, [SetStateCommand("s", b"1"), CompletePromiseCommand("p", ok(b"v"), 1)])
    h.complete(A, now=T0 + 1)
    h.complete(W, now=T0 + 2)
    h.complete(other_run, now=T0 + 2)
    h.drive(PurgeExpired([A], T0 + 1 + RETENTION_MS))  # a shared handler's purge keeps them
    assert A not in h.state.invocations
    assert h.state.state[SIGNUP_KEY] == {"s": b"1"}
    h.drive(PurgeExpired([W], T0 + 1 + RETENTION_MS))  # not expired yet
    assert W in h.state.invocations
    assert h.state.state[SIGNUP_KEY] == {"s": b"1"}
    h.drive(PurgeExpired([W], T0 + 2 + RETENTION_MS))
    assert W not in h.state.invocations
    assert SIGNUP_KEY not in h.state.state
    assert ("Signup", KEY, "p") not in h.state.promises
    assert h.state.state[("Signup", "other")] == {"s": b"1"}
    assert h.state.promises[("Signup", "other", "p")] == PromiseRecord(ok(b"v"), [])


# --- timers --------------------------------------------------------------------------------------


def test_sleep_command_stores_a_sleep_timer() -> None:
    """A SleepCommand adds a SLEEP timer for its completion id and schedules it."""
    h = Harness()
    h.invoke(A, GREET)
    sleep = SleepCommand(T0 + 500, 1, "nap")
    (applied,) = h.append(A, [sleep], now=T0 + 1)
    assert h.state.timers == {Timer(T0 + 500, A, TimerKind.SLEEP, h.inv(A).created_at_ms, 1)}
    assert applied.effects == [TimerScheduled(T0 + 500), EntriesAppended(A, 1, 1, [sleep])]


def test_sleep_timer_fired_completes_and_wakes_a_suspended_invocation() -> None:
    """The SLEEP timer journals its completion (void bytes) and wakes the invocation awaiting it."""
    h = Harness()
    h.invoke(A, GREET)
    h.append(A, [SleepCommand(T0 + 500, 1)])
    h.suspend(A, Waiting(completion_ids=(1,)))
    (timer,) = h.state.timers
    (fired,) = h.drive(TimerFired(timer, T0 + 500))
    assert fired.outcome is True
    assert fired.effects == [StartAttempt(A, 2, GREET, None, None)]
    assert h.state.timers == set()
    assert h.journal(A)[-1] == CompletionNotification(1, ok(b""))
    assert (h.inv(A).status, h.inv(A).waiting) == (Status.RUNNING, None)


def test_sleep_timer_for_another_completion_does_not_wake() -> None:
    """A suspended invocation waiting on a different completion only journals the sleep's end."""
    h = Harness()
    h.invoke(A, GREET)
    h.append(A, [SleepCommand(T0 + 500, 1), RunCommand("r", 2)])
    h.suspend(A, Waiting(completion_ids=(2,)))
    (timer,) = h.state.timers
    (fired,) = h.drive(TimerFired(timer, T0 + 500))
    assert fired.effects == []
    assert h.inv(A).status == Status.SUSPENDED
    assert h.journal(A)[-1] == CompletionNotification(1, ok(b""))


def test_leftover_sleep_timer_does_not_complete_a_recreated_invocation() -> None:
    """A sleep timer outliving its invocation must not inject a completion into a new one."""
    h = Harness()
    h.invoke(W, RUN)
    h.append(W, [SleepCommand(T0 + 10 * RETENTION_MS, 1)])
    h.drive(Kill(W, T0 + 1))
    h.drive(PurgeExpired([W], T0 + 1 + RETENTION_MS))
    h.invoke(W, RUN, now=T0 + 2 * RETENTION_MS)  # the same workflow key, run again
    h.append(W, [RunCommand("charge", 1)], now=T0 + 2 * RETENTION_MS)
    journal = list(h.journal(W))
    for timer in list(h.state.timers):
        h.drive(TimerFired(timer, timer.due_ms))
    assert h.journal(W) == journal


def test_delayed_send_is_scheduled_until_its_invoke_timer_fires() -> None:
    """A OneWayCall with a future invoke_at makes a SCHEDULED invocation and an INVOKE timer."""
    h = Harness()
    h.invoke(A, GREET)
    send = OneWayCallCommand("Greeter", "greet", None, b"x", HEADERS, B.to_bytes(), T0 + 1_000)
    results = h.append(A, [send], now=T0 + 10)
    assert results[0].follow_ups == [
        Invoke(B, GREET, b"x", HEADERS, T0 + 10, None, HandlerKind.SERVICE, None, T0 + 1_000)
    ]
    assert h.inv(B).status == Status.SCHEDULED
    assert h.state.timers == {Timer(T0 + 1_000, B, TimerKind.INVOKE, h.inv(B).created_at_ms)}
    assert TimerScheduled(T0 + 1_000) in effects_of(results)
    assert started(results) == []
    (timer,) = h.state.timers
    (fired,) = h.drive(TimerFired(timer, T0 + 1_000))
    assert fired.outcome is True
    assert fired.effects == [StartAttempt(B, 1, GREET, None, None)]
    assert (h.inv(B).status, h.inv(B).attempt, h.inv(B).callers) == (Status.RUNNING, 1, [])
    assert h.state.timers == set()
    assert h.journal(B) == [InputCommand(HEADERS, b"x")]


def test_send_without_a_future_invoke_at_starts_at_once() -> None:
    """A OneWayCall whose invoke_at is already past starts the callee immediately."""
    h = Harness()
    h.invoke(A, GREET)
    send = OneWayCallCommand("Greeter", "greet", None, b"x", HEADERS, B.to_bytes(), T0 - 1)
    results = h.append(A, [send])
    assert started(results) == [B]
    assert h.inv(B).status == Status.RUNNING
    assert h.state.timers == set()


# --- calls ---------------------------------------------------------------------------------------


def test_call_invokes_the_child_and_its_result_wakes_the_caller() -> None:
    """CallCommand invokes the callee with the caller attached; its result completes the call."""
    h = Harness()
    h.invoke(A, GREET)
    call = CallCommand("Counter", "add", KEY, b"2", HEADERS, B.to_bytes(), 1)
    results = h.append(A, [call], now=T0 + 1)
    assert results[0].follow_ups == [
        Invoke(B, ADD, b"2", HEADERS, T0 + 1, None, HandlerKind.EXCLUSIVE, caller=(A, 1))
    ]
    assert h.inv(A).children == [B.to_bytes()]
    assert h.inv(B).callers == [(A.to_bytes(), 1)]
    assert h.inv(B).status == Status.RUNNING
    h.suspend(A, Waiting(completion_ids=(1,)))
    done = h.complete(B, ok(b"3"), now=T0 + 2)
    assert done[0].follow_ups == [DeliverCompletion(A, 1, ok(b"3"), T0 + 2)]
    assert h.journal(A)[-1] == CompletionNotification(1, ok(b"3"))
    assert (h.inv(A).status, h.inv(A).attempt) == (Status.RUNNING, 2)
    assert h.inv(B).callers == []


def test_call_to_an_unknown_handler_completes_the_call_with_404() -> None:
    """A call whose target is not registered fails the caller's completion with 404."""
    h = Harness()
    h.invoke(A, GREET)
    call = CallCommand("Nope", "x", None, b"", HEADERS, B.to_bytes(), 1)
    results = h.append(A, [call])
    (follow,) = results[0].follow_ups
    assert isinstance(follow, DeliverCompletion)
    assert (follow.invocation_id, follow.completion_id) == (A, 1)
    assert follow.result.failure is not None
    assert follow.result.failure.code == 404
    assert B not in h.state.invocations
    assert h.inv(A).children == []


def test_attach_to_a_completed_invocation_answers_at_once() -> None:
    """AttachInvocation to a completed invocation delivers its result right away."""
    h = Harness()
    h.invoke(B, GREET)
    h.complete(B, ok(b"r"))
    h.invoke(A, GREET)
    results = h.append(A, [AttachInvocationCommand(B.to_bytes(), 5)], now=T0 + 1)
    assert results[0].follow_ups == [AddCaller(B, (A, 5), T0 + 1)]
    assert h.journal(A)[-1] == CompletionNotification(5, ok(b"r"))
    assert h.inv(B).callers == []


def test_attach_to_an_unknown_invocation_answers_404() -> None:
    """AttachInvocation to an id nobody knows completes the attach with 404."""
    h = Harness()
    h.invoke(A, GREET)
    h.append(A, [AttachInvocationCommand(B.to_bytes(), 5)])
    missing = Result(failure=Failure(404, "invocation not found"))
    assert h.journal(A)[-1] == CompletionNotification(5, missing)


def test_attach_to_a_running_invocation_answers_when_it_completes() -> None:
    """AttachInvocation to a running invocation waits as a caller until it completes."""
    h = Harness()
    h.invoke(B, GREET)
    h.invoke(A, GREET)
    h.append(A, [AttachInvocationCommand(B.to_bytes(), 5)])
    assert h.inv(B).callers == [(A.to_bytes(), 5)]
    assert not any(isinstance(e, CompletionNotification) for e in h.journal(A))
    h.complete(B, ok(b"r"))
    assert h.journal(A)[-1] == CompletionNotification(5, ok(b"r"))


# --- cancellation --------------------------------------------------------------------------------


def test_cancel_of_a_running_invocation_appends_the_cancel_signal() -> None:
    """Cancel journals signal 1 (a 409 failure) and hands it to the live attempt."""
    h = Harness()
    h.invoke(A, GREET)
    (applied,) = h.drive(Cancel(A, T0 + 1))
    assert applied.outcome == LookupOutcome(Status.RUNNING)
    signal = h.journal(A)[-1]
    assert isinstance(signal, SignalNotification)
    assert signal.index == 1
    assert signal.result.failure is not None
    assert signal.result.failure.code == 409
    assert applied.effects == [EntriesAppended(A, 1, 1, [signal])]
    assert (h.inv(A).status, h.inv(A).attempt) == (Status.RUNNING, 1)


def test_cancel_wakes_a_suspended_invocation_not_waiting_on_the_cancel_signal() -> None:
    """Cancel of a SUSPENDED invocation starts a new attempt whatever it waits on."""
    h = Harness()
    h.invoke(A, GREET)
    h.suspend(A, Waiting(signal_indexes=(17,)))
    (applied,) = h.drive(Cancel(A, T0 + 1))
    assert applied.outcome == LookupOutcome(Status.SUSPENDED)
    assert applied.effects == [StartAttempt(A, 2, GREET, None, None)]
    assert (h.inv(A).status, h.inv(A).waiting) == (Status.RUNNING, None)
    assert isinstance(h.journal(A)[-1], SignalNotification)


def test_cancel_resumes_a_paused_invocation() -> None:
    """Cancel of a PAUSED invocation journals the signal and starts a new attempt."""
    h = Harness(RetryPolicy(max_attempts=1))
    h.invoke(A, GREET)
    h.drive(AttemptFailed(A, 1, [], Failure(500, "boom"), T0))
    assert h.inv(A).status == Status.PAUSED
    (applied,) = h.drive(Cancel(A, T0 + 1))
    assert applied.outcome == LookupOutcome(Status.PAUSED)
    assert applied.effects == [StartAttempt(A, 2, GREET, None, None)]
    assert h.inv(A).status == Status.RUNNING
    assert isinstance(h.journal(A)[-1], SignalNotification)


def test_cancel_of_a_completed_invocation_changes_nothing() -> None:
    """Cancel of a COMPLETED invocation reports it completed and has no effect."""
    h = Harness()
    h.invoke(A, GREET)
    h.complete(A, ok(b"r"))
    before = snapshot(h)
    (applied,) = h.drive(Cancel(A, T0 + 1))
    assert applied.outcome == LookupOutcome(Status.COMPLETED, ok(b"r"), T0 + RETENTION_MS)
    assert (applied.effects, applied.follow_ups) == ([], [])
    assert snapshot(h) == before
    assert h.apply(Cancel(B, T0)).outcome == LookupOutcome(None)


def test_send_signal_one_cancels_the_target_and_other_indexes_deliver() -> None:
    """SendSignalCommand with index 1 becomes a Cancel; other indexes a DeliverSignal."""
    h = Harness()
    h.invoke(A, GREET)
    h.invoke(B, GREET)
    cancel = SendSignalCommand(B.to_bytes(), 1, VOID)
    signal = SendSignalCommand(B.to_bytes(), 17, ok(b"s"))
    results = h.append(A, [cancel, signal], now=T0 + 1)
    assert results[0].follow_ups == [
        Cancel(B, T0 + 1),
        DeliverSignal(B, 17, ok(b"s"), T0 + 1),
    ]
    indexes = [e.index for e in h.journal(B) if isinstance(e, SignalNotification)]
    assert indexes == [1, 17]


# --- kill ----------------------------------------------------------------------------------------


def test_kill_of_a_running_holder_aborts_it_kills_children_and_hands_over_the_lock() -> None:
    """Kill aborts the attempt, answers callers 409 killed, kills children, frees the key."""
    h = Harness()
    h.invoke(D, GREET)  # D calls A (the Counter key's holder); A calls C
    h.append(D, [CallCommand("Counter", "add", KEY, b"", HEADERS, A.to_bytes(), 1)])
    h.append(A, [CallCommand("Greeter", "greet", None, b"", HEADERS, C.to_bytes(), 1)])
    h.invoke(B, ADD)  # queued behind A
    assert h.inv(B).status == Status.INBOXED
    results = h.drive(Kill(A, T0 + 5))
    assert results[0].outcome == LookupOutcome(Status.RUNNING)
    assert AbortAttempt(A) in results[0].effects
    assert Kill(C, T0 + 5) in results[0].follow_ups
    effects = effects_of(results)
    assert AbortAttempt(C) in effects
    assert InvocationFinished(A, KILLED, T0 + 5 + RETENTION_MS) in effects
    for iid in (A, C):
        assert (h.inv(iid).status, h.inv(iid).result) == (Status.COMPLETED, KILLED)
        assert h.journal(iid)[-1] == OutputCommand(KILLED)
    assert h.journal(D)[-1] == CompletionNotification(1, KILLED)
    assert started(results) == [B]
    assert h.inv(B).status == Status.RUNNING
    assert h.state.objects[COUNTER_KEY].locked_by == B.to_bytes()


def test_kill_of_a_completed_invocation_changes_nothing() -> None:
    """Kill of a COMPLETED invocation reports it and changes nothing."""
    h = Harness()
    h.invoke(A, ADD)
    h.complete(A, ok(b"r"))
    before = snapshot(h)
    (applied,) = h.drive(Kill(A, T0 + 1))
    assert applied.outcome == LookupOutcome(Status.COMPLETED, ok(b"r"), T0 + RETENTION_MS)
    assert applied.effects == []
    assert snapshot(h) == before


def test_killing_a_holder_whose_child_is_the_inbox_head_frees_the_key() -> None:
    """A holder that called its own key deadlocks; killing it must leave the key usable."""
    h = Harness()
    h.invoke(A, ADD)
    h.append(A, [CallCommand("Counter", "add", KEY, b"", HEADERS, B.to_bytes(), 1)])
    assert h.inv(B).status == Status.INBOXED  # waits for A, which waits for B
    h.drive(Kill(A, T0 + 1))
    assert h.inv(B).result == KILLED
    h.invoke(C, ADD, now=T0 + 2)
    assert h.inv(C).status == Status.RUNNING
    assert h.state.objects[COUNTER_KEY].locked_by == C.to_bytes()


def test_holder_cancelling_the_inbox_head_as_it_returns_frees_the_key() -> None:
    """A holder that cancels the next queued invocation in its last entries frees the key."""
    h = Harness()
    h.invoke(A, ADD)
    h.invoke(B, ADD)
    h.complete(A, entries=[SendSignalCommand(B.to_bytes(), 1, VOID)], now=T0 + 1)
    assert h.inv(B).result == CANCELED
    h.invoke(C, ADD, now=T0 + 2)
    assert h.inv(C).status == Status.RUNNING
    assert h.state.objects[COUNTER_KEY].locked_by == C.to_bytes()


# --- property: one key under random interleavings ---------------------------------------------

Record = TypeVar("Record", Invocation, ObjectRecord, PromiseRecord)


def _fresh(record: Record, kind: type[Record]) -> Record:
    """A copy, as storage gives on every load (the engine mutates records in place)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(record), type=kind)


def _copy(record: Record | None, kind: type[Record]) -> Record | None:
    return None if record is None else _fresh(record, kind)


def _commit_into(store: MemoryState, batch: Batch) -> None:
    """Write a Batch into a MemoryState in the order the SQLite store does."""
    for iid in batch.deleted:
        store.delete_invocation(iid)
    for iid, index, entry in batch.journal:
        store.append(iid, index, entry)
    for iid, inv in batch.invocations.items():
        store.put_invocation(iid, _fresh(inv, Invocation))
    for timer in batch.timers_added:
        store.add_timer(timer)
    for timer in batch.timers_removed:
        store.remove_timer(timer)
    for key, record in batch.objects.items():
        store.put_object(key, _fresh(record, ObjectRecord))
    for key, seq, iid in batch.inbox_pushed:
        store.inbox_push(key, seq, iid)
    for key, seq in batch.inbox_removed:
        store.inbox_remove(key, seq)
    for key in batch.state_cleared:
        store.clear_state(key)
    for (key, name), value in batch.state_set.items():
        store.set_state(key, name, value)
    for key in batch.promises_cleared:
        store.clear_promises(key)
    for pkey, promise_record in batch.promises.items():
        store.put_promise(pkey, _fresh(promise_record, PromiseRecord))


class Driver:
    """Applies events the way the partition leader does.

    Unbatched, each event is its own batch straight on a MemoryState. Batched, events go
    through the leader's BatchState over rows loaded from a MemoryState "store" (so inbox heads
    can be unknown), and the batch is written to the store on `commit`. Either way, follow-ups
    are applied within the batch and deferred events only after the batch committed.
    """

    def __init__(self, engine: Engine, batched: bool) -> None:
        self.engine = engine
        self.batched = batched
        self.store = MemoryState()
        self.open: BatchState | None = None
        self.ready: list[Event] = []  # deferred by committed batches, not yet submitted
        self.held: list[Event] = []  # deferred by the open batch
        self.starts: list[InvocationId] = []  # first attempts started, in order

    def view(self) -> PartitionState:
        if not self.batched:
            return self.store
        if self.open is None:
            self.open = BatchState({}, Loaded())
        return self.open

    def invocation(self, iid: InvocationId) -> Invocation | None:
        view = self.view()
        if isinstance(view, BatchState):
            self._load_invocations(view, (iid,))
        return view.invocation(iid)

    def _load_invocations(self, view: BatchState, ids: tuple[InvocationId, ...]) -> None:
        for iid in ids:
            if iid not in view.loaded.invocations:
                found = _copy(self.store.invocation(iid), Invocation)
                if found is not None:
                    view.loaded.invocations[iid] = found

    def _load(self, view: BatchState, event: Event) -> None:
        """What the leader's `_load` does, reading from the store (pre-batch rows)."""
        loaded = view.loaded
        self._load_invocations(view, invocations_touched(event))
        reads = reads_for(event, view.invocation)
        for key in reads.objects - loaded.objects.keys():
            loaded.objects[key] = _copy(self.store.object(key), ObjectRecord)
        for key in reads.inbox_heads - loaded.inbox_heads.keys():
            head = self.store.inbox_head(key)
            assert head is None or isinstance(head, tuple)
            loaded.inbox_heads[key] = head
        for pkey in reads.promises - loaded.promises.keys():
            loaded.promises[pkey] = _copy(self.store.promise(pkey), PromiseRecord)

    def apply(self, event: Event) -> Applied:
        view = self.view()
        pending = [event]
        first: Applied | None = None
        while pending:
            more: list[Event] = []
            for ev in pending:
                if isinstance(view, BatchState):
                    self._load(view, ev)
                applied = self.engine.apply(view, ev)
                first = first or applied
                self.held.extend(applied.deferred)
                more.extend(applied.follow_ups)
                for effect in applied.effects:
                    if isinstance(effect, StartAttempt) and effect.attempt == 1:
                        self.starts.append(effect.invocation_id)
            pending = more
        if not self.batched:
            self.commit()
        assert first is not None
        return first

    def commit(self) -> None:
        if self.open is not None:
            _commit_into(self.store, self.open.batch)
            self.open = None
        self.ready.extend(self.held)
        self.held = []

    def submit_deferred(self) -> None:
        events, self.ready = self.ready, []
        for event in events:
            self.apply(event)


@dataclass
class KeyModel:
    """What the property test remembers: ids made, inbox seqs handed out, the last one started."""

    d: Driver
    now: int = T0
    ids: list[InvocationId] = field(default_factory=list)
    shared: set[InvocationId] = field(default_factory=set)
    seqs: dict[InvocationId, int] = field(default_factory=dict)
    arrivals: list[InvocationId] = field(default_factory=list)  # exclusive, not started yet
    last_started_seq: int = -1
    seen_starts: int = 0


def _pick(m: KeyModel, index: int, statuses: frozenset[Status]) -> InvocationId | None:
    """The `index`-th (cyclically) invocation made so far whose status is in `statuses`."""
    found = [iid for iid in m.ids if (inv := m.d.invocation(iid)) and inv.status in statuses]
    return found[index % len(found)] if found else None


NOT_DONE = frozenset(Status) - {Status.COMPLETED}


def _key_event(m: KeyModel, kind: str, index: int) -> Event | None:
    """The event an op stands for, aimed at an invocation it can affect (None: nothing to do)."""
    if kind == "invoke":  # a new id; some call the shared handler of the key
        iid = InvocationId(5, len(m.ids) + 1)
        m.ids.append(iid)
        if index == 3:
            m.shared.add(iid)
            return Invoke(iid, GET, b"in", HEADERS, m.now, kind=HandlerKind.SHARED)
        return Invoke(iid, ADD, b"in", HEADERS, m.now, kind=HandlerKind.EXCLUSIVE)
    if kind == "fire":
        timers = sorted(m.d.store.timers, key=lambda t: (t.due_ms, t.invocation_id, t.kind))
        return TimerFired(timers[index % len(timers)], m.now) if timers else None
    if kind in ("complete", "fail", "suspend"):
        running = _pick(m, index, frozenset({Status.RUNNING}))
        inv = m.d.invocation(running) if running is not None else None
        if running is None or inv is None:
            return None
        if kind == "complete":
            return AttemptCompleted(running, inv.attempt, [], ok(), m.now)
        if kind == "fail":
            return AttemptFailed(running, inv.attempt, [], Failure(500, "boom"), m.now, 5)
        waiting = Waiting(signal_indexes=(17,))
        return AttemptSuspended(running, inv.attempt, [], waiting, inv.journal_length, m.now)
    if kind == "end_queued":  # kill or cancel a queued one, the inbox head most often
        queued = _pick(m, index, frozenset({Status.INBOXED}))
        return None if queued is None else (Kill if index % 2 else Cancel)(queued, m.now)
    if kind == "reinvoke":  # the same id again: a duplicate, never a second invocation
        if not m.ids:
            return None
        again = m.ids[index % len(m.ids)]
        target, handler = (
            (GET, HandlerKind.SHARED) if again in m.shared else (ADD, HandlerKind.EXCLUSIVE)
        )
        return Invoke(again, target, b"again", HEADERS, m.now, kind=handler)
    chosen = _pick(m, index, NOT_DONE)
    if chosen is None:
        return None
    if kind == "kill":
        return Kill(chosen, m.now)
    if kind == "cancel":
        return Cancel(chosen, m.now)
    if kind == "signal":
        return DeliverSignal(chosen, 17, ok(b"s"), m.now)
    return ResumeInvocation(chosen, m.now)


def _step_key(m: KeyModel, op: tuple[str, int]) -> None:
    kind, index = op
    m.now += 7
    d = m.d
    if kind == "commit":
        d.commit()
        return
    if kind == "deferred":
        d.submit_deferred()
        return
    event = _key_event(m, kind, index)
    if event is None:
        return
    applied = d.apply(event)
    outcome = applied.outcome
    if isinstance(outcome, InvokeOutcome) and outcome.created:
        iid = outcome.invocation_id
        assert iid not in m.shared or outcome.status == Status.RUNNING
        if iid not in m.shared:
            m.arrivals.append(iid)
        if outcome.status == Status.INBOXED:
            inv = d.invocation(iid)
            assert inv is not None
            assert inv.inbox_seq is not None
            assert all(inv.inbox_seq > seq for seq in m.seqs.values()), "seq not increasing"
            m.seqs[iid] = inv.inbox_seq
    for started_id in d.starts[m.seen_starts :]:
        if started_id in m.shared:
            continue
        if started_id in m.seqs:  # it waited in the inbox
            assert m.seqs[started_id] > m.last_started_seq, "an inboxed invocation overtook"
            m.last_started_seq = m.seqs[started_id]
        # Whoever arrived earlier has started already or ended without starting.
        position = m.arrivals.index(started_id)
        for earlier in m.arrivals[:position]:
            inv = d.invocation(earlier)
            assert inv is not None
            assert inv.status == Status.COMPLETED, "a later arrival started first"
        del m.arrivals[: position + 1]
    m.seen_starts = len(d.starts)


def _check_key(m: KeyModel) -> None:
    """Invariants of the committed state of the one key."""
    s = m.d.store
    exclusive = {i: inv for i, inv in s.invocations.items() if inv.kind == HandlerKind.EXCLUSIVE}
    holders = [i for i, inv in exclusive.items() if inv.status in ALIVE]
    assert len(holders) <= 1, "two exclusive invocations run on one key"
    record = s.objects.get(COUNTER_KEY) or ObjectRecord()
    if holders:
        assert record.locked_by == holders[0].to_bytes()
        assert not record.draining
    else:
        assert record.locked_by is None, "the lock is held by an invocation that is not running"
    inbox = s.inboxes.get(COUNTER_KEY, {})
    queued = {i: inv.inbox_seq for i, inv in exclusive.items() if inv.status == Status.INBOXED}
    assert {iid: seq for seq, iid in inbox.items()} == queued
    assert len(inbox) == len(queued), "an invocation is in the inbox twice"
    assert all(seq < record.next_seq for seq in inbox)
    assert all(seq > m.last_started_seq for seq in inbox), "a later arrival already started"
    retry_pending = any(
        isinstance(e, StartInboxed) and (e.service, e.key) == COUNTER_KEY for e in m.d.ready
    )
    if record.draining:
        assert retry_pending, "the key is draining but no StartInboxed is pending"
    elif not holders:
        assert not inbox, "the key is free while its inbox holds invocations"
    for iid in m.shared:
        shared = s.invocation(iid)
        assert shared is None or shared.status != Status.INBOXED


key_ops = st.tuples(
    st.sampled_from(
        [
            *["invoke"] * 3,
            *["complete"] * 3,
            "reinvoke",
            "fail",
            "fire",
            "suspend",
            "signal",
            "resume",
            "kill",
            "cancel",
            *["end_queued"] * 2,
            *["commit"] * 2,
            "deferred",
        ]
    ),
    st.sampled_from([0, 0, 1, 2, 3]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 4),
    st.lists(key_ops, min_size=10, max_size=60),
    st.sampled_from(["pause", "kill"]),
    st.booleans(),
)
def test_one_key_under_random_interleavings_keeps_the_lock_invariants(
    queued: int, ops: list[tuple[str, int]], on_max: str, batched: bool
) -> None:
    """At most one exclusive holder, it holds the lock, the inbox starts in order, none lost."""
    engine = make_engine(RetryPolicy(max_attempts=2, on_max_attempts=on_max))
    m = KeyModel(Driver(engine, batched))
    for op in [*[("invoke", 0)] * (queued + 1), ("commit", 0), *ops]:
        _step_key(m, op)
        if not batched or op[0] == "commit":
            _check_key(m)
    for _ in range(10):  # the leader keeps submitting what was deferred
        m.d.commit()
        _check_key(m)
        if not m.d.ready:
            break
        m.d.submit_deferred()
    assert not m.d.ready, "deferred hand-overs never settle"
    record = m.d.store.objects.get(COUNTER_KEY) or ObjectRecord()
    assert not record.draining
