"""The engine's index of pending waits and its checks of awakeable completions."""

from __future__ import annotations

from wakeful.engine.events import (
    AppendEntries,
    AttemptCompleted,
    AttemptSuspended,
    CompletePromise,
    DeliverCompletion,
    DeliverSignal,
    Invoke,
)
from wakeful.engine.machine import Engine, EngineConfig
from wakeful.engine.model import HandlerKind, Target, Waiting
from wakeful.engine.state import MemoryState
from wakeful.engine.waits import Delivery, SignalOutcome, WaitKind, WaitStatus
from wakeful.journal.entries import (
    AwakeableCommand,
    CompletePromiseCommand,
    Entry,
    GetPromiseCommand,
    Result,
    SignalNotification,
    SleepCommand,
)
from wakeful.journal.ids import AwakeableId, InvocationId

IID = InvocationId(7, 1234)
TARGET = Target("Approvals", "request")
T0 = 1_700_000_000_000
SCHEMA = b'{"type": "boolean"}'
YES = Result(value=b"true")
NO = Result(value=b"false")


def started(
    entries: list[Entry], target: Target = TARGET, kind: HandlerKind = HandlerKind.SERVICE
) -> tuple[Engine, MemoryState]:
    """An engine and state with one running invocation that journaled `entries`."""
    engine = Engine(EngineConfig(handler_kind=lambda _: kind))
    state = MemoryState()
    engine.apply(state, Invoke(IID, target, b"", [], T0, kind=kind))
    engine.apply(state, AppendEntries(IID, 1, entries, T0 + 1))
    return engine, state


def awakeable_id(index: int) -> str:
    """The id of the test invocation's awakeable `index`."""
    return str(AwakeableId(IID, index))


def test_created_awakeable_is_indexed_pending_with_its_context() -> None:
    """AwakeableCommand writes a pending wait row with target, description and schema."""
    _, state = started([AwakeableCommand(17, "Approve expense 42", SCHEMA)])
    row = state.waits[awakeable_id(17)]
    assert (row.kind, row.status, row.handle) == (WaitKind.AWAKEABLE, WaitStatus.PENDING, 17)
    assert (row.target, row.service, row.created_at_ms) == (
        "Approvals/request",
        "Approvals",
        T0 + 1,
    )
    assert (row.description, row.schema, row.deadline_ms) == ("Approve expense 42", SCHEMA, None)


def test_index_never_created_is_refused_and_nothing_is_journaled() -> None:
    """Signal 1 (cancel) and an index past the created awakeables answer NOT_CREATED."""
    engine, state = started([AwakeableCommand(17)])
    before = list(state.journals[IID])
    for index in (1, 16, 18, 1000):
        applied = engine.apply(state, DeliverSignal(IID, index, YES, T0 + 2))
        assert applied.outcome == SignalOutcome(Delivery.NOT_CREATED)
        assert applied.effects == []
    assert state.journals[IID] == before


def test_first_completion_applies_then_duplicate_and_conflict_are_told_apart() -> None:
    """Applied once; the same result again is a duplicate, another one a conflict: both
    carry the first completion's time and leave the journal as it was."""
    engine, state = started([AwakeableCommand(17, None, SCHEMA)])
    first = engine.apply(state, DeliverSignal(IID, 17, YES, T0 + 5))
    assert first.outcome == SignalOutcome(Delivery.APPLIED, T0 + 5)
    length = len(state.journals[IID])
    again = engine.apply(state, DeliverSignal(IID, 17, YES, T0 + 6))
    other = engine.apply(state, DeliverSignal(IID, 17, NO, T0 + 7))
    assert again.outcome == SignalOutcome(Delivery.DUPLICATE, T0 + 5)
    assert other.outcome == SignalOutcome(Delivery.CONFLICT, T0 + 5)
    assert len(state.journals[IID]) == length
    assert state.journals[IID][-1] == SignalNotification(17, YES)
    row = state.waits[awakeable_id(17)]
    assert (row.status, row.completed_at_ms, row.result) == (WaitStatus.COMPLETED, T0 + 5, YES)


def test_finished_invocation_closes_its_pending_waits_and_refuses_completions() -> None:
    """When the invocation ends, its pending awakeables are closed; a completion is CLOSED."""
    engine, state = started([AwakeableCommand(17), AwakeableCommand(18)])
    engine.apply(state, DeliverSignal(IID, 17, YES, T0 + 2))
    engine.apply(state, AttemptCompleted(IID, 1, [], YES, T0 + 3))
    assert state.waits[awakeable_id(17)].status == WaitStatus.COMPLETED
    assert state.waits[awakeable_id(18)].status == WaitStatus.CLOSED
    late = engine.apply(state, DeliverSignal(IID, 18, YES, T0 + 4))
    assert late.outcome == SignalOutcome(Delivery.CLOSED)
    duplicate = engine.apply(state, DeliverSignal(IID, 17, YES, T0 + 4))
    assert duplicate.outcome == SignalOutcome(Delivery.DUPLICATE, T0 + 2)


def test_suspension_racing_a_sleep_gives_the_awakeable_the_timer_deadline() -> None:
    """Suspended on (awakeable 17 | sleep 1): the wait row's deadline is the sleep's due time."""
    engine, state = started([AwakeableCommand(17), SleepCommand(T0 + 60_000, 1)])
    waiting = Waiting(completion_ids=(1,), signal_indexes=(1, 17))
    engine.apply(state, AttemptSuspended(IID, 1, [], waiting, 3, T0 + 2))
    assert state.waits[awakeable_id(17)].deadline_ms == T0 + 60_000


def test_suspension_without_a_racing_timer_has_no_deadline() -> None:
    """Waiting for all of (awakeable, sleep), or for the awakeable alone: no deadline."""
    engine, state = started([AwakeableCommand(17), SleepCommand(T0 + 60_000, 1)])
    waiting = Waiting(completion_ids=(1,), signal_indexes=(1, 17), all_of=True)
    engine.apply(state, AttemptSuspended(IID, 1, [], waiting, 3, T0 + 2))
    assert state.waits[awakeable_id(17)].deadline_ms is None


def test_awaited_workflow_promise_is_indexed_then_completed() -> None:
    """GetPromise of an open promise writes a promise wait row; CompletePromise completes it."""
    target = Target("Review", "run", "doc-7")
    engine, state = started(
        [GetPromiseCommand("verdict", 1, "Verdict on doc-7", SCHEMA)], target, HandlerKind.WORKFLOW
    )
    row = state.waits["Review/doc-7/verdict"]
    assert (row.kind, row.status, row.description) == (
        WaitKind.PROMISE,
        WaitStatus.PENDING,
        "Verdict on doc-7",
    )
    engine.apply(state, AppendEntries(IID, 1, [CompletePromiseCommand("verdict", YES, 2)], T0 + 9))
    row = state.waits["Review/doc-7/verdict"]
    assert (row.status, row.completed_at_ms, row.result) == (WaitStatus.COMPLETED, T0 + 9, YES)


def test_awaited_promise_completed_from_outside_wakes_its_listener_once() -> None:
    """CompletePromise applies once and wakes the awaiting run; the same result again is a
    duplicate, another a conflict; a promise nobody awaits is unknown."""
    target = Target("Review", "run", "doc-7")
    engine, state = started([GetPromiseCommand("verdict", 1)], target, HandlerKind.WORKFLOW)
    applied = engine.apply(state, CompletePromise("Review", "doc-7", "verdict", YES, T0 + 5))
    assert applied.outcome == SignalOutcome(Delivery.APPLIED, T0 + 5)
    assert applied.follow_ups == [DeliverCompletion(IID, 1, YES, T0 + 5)]
    assert state.waits["Review/doc-7/verdict"].status == WaitStatus.COMPLETED
    again = engine.apply(state, CompletePromise("Review", "doc-7", "verdict", YES, T0 + 6))
    other = engine.apply(state, CompletePromise("Review", "doc-7", "verdict", NO, T0 + 7))
    assert (again.outcome, other.outcome) == (
        SignalOutcome(Delivery.DUPLICATE),
        SignalOutcome(Delivery.CONFLICT),
    )
    assert again.follow_ups == other.follow_ups == []
    nobody = engine.apply(state, CompletePromise("Review", "doc-8", "verdict", YES, T0 + 8))
    assert nobody.outcome == SignalOutcome(Delivery.UNKNOWN)
    assert ("Review", "doc-8", "verdict") not in state.promises
