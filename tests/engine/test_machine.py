"""The engine's invocation lifecycle, driven synchronously through events on a MemoryState."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wakeful.engine.effects import (
    EntriesAppended,
    InvocationFinished,
    StartAttempt,
    TimerScheduled,
)
from wakeful.engine.events import (
    AppendEntries,
    Attach,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    DeliverSignal,
    Event,
    Invoke,
    InvokeOutcome,
    LookupOutcome,
    PurgeExpired,
    RecoverInvocation,
    ResumeInvocation,
    TimerFired,
)
from wakeful.engine.machine import Applied, Engine, EngineConfig
from wakeful.engine.model import (
    Invocation,
    RetryPolicy,
    Status,
    Target,
    Timer,
    TimerKind,
    Waiting,
)
from wakeful.engine.state import MemoryState
from wakeful.engine.waits import Delivery, SignalOutcome
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
from wakeful.journal.ids import AwakeableId, AwakeableRef, InvocationId

IID = InvocationId(7, 1234)
OTHER = InvocationId(9, 5678)
TARGET = Target("Greeter", "greet")
HEADERS = [("content-type", "application/json")]
T0 = 1_700_000_000_000
RETENTION_MS = 60_000
BOOM = Failure(500, "boom")


def ok(value: bytes = b"done") -> Result:
    return Result(value=value)


class Harness:
    """One engine over one MemoryState, with shorthands for the common events."""

    def __init__(self, policy: RetryPolicy | None = None, retention_ms: int = RETENTION_MS) -> None:
        chosen = policy or RetryPolicy()
        self.engine = Engine(
            EngineConfig(
                retry_policy=lambda _: chosen,
                completion_retention_ms=lambda _, __: retention_ms,
                # Signals by index alone (tests/engine/test_waits.py: created awakeables only).
                tracks_awakeables=lambda _: False,
            )
        )
        self.state = MemoryState()

    def apply(self, event: Event) -> Applied:
        return self.engine.apply(self.state, event)

    def inv(self, iid: InvocationId = IID) -> Invocation:
        record = self.state.invocation(iid)
        assert record is not None
        return record

    def journal(self, iid: InvocationId = IID) -> list[Entry]:
        return self.state.journals.get(iid, [])

    def invoke(
        self, iid: InvocationId = IID, now: int = T0, value: bytes = b"in", key: str | None = None
    ) -> Applied:
        return self.apply(Invoke(iid, TARGET, value, HEADERS, now, idempotency_key=key))

    def suspend(
        self,
        signals: tuple[int, ...],
        now: int = T0,
        iid: InvocationId = IID,
        known_length: int | None = None,
        entries: list[Entry] | None = None,
    ) -> Applied:
        inv = self.inv(iid)
        known = inv.journal_length if known_length is None else known_length
        return self.apply(
            AttemptSuspended(
                iid, inv.attempt, entries or [], Waiting(signal_indexes=signals), known, now
            )
        )

    def fail(
        self, now: int = T0, iid: InvocationId = IID, retry_after_ms: int | None = None
    ) -> Applied:
        return self.apply(
            AttemptFailed(iid, self.inv(iid).attempt, [], BOOM, now, retry_after_ms=retry_after_ms)
        )

    def fire_pending_timer(self, iid: InvocationId = IID) -> Applied:
        (timer,) = [t for t in self.state.timers if t.invocation_id == iid]
        return self.apply(TimerFired(timer, timer.due_ms))

    def complete(self, result: Result, now: int = T0, iid: InvocationId = IID) -> Applied:
        return self.apply(AttemptCompleted(iid, self.inv(iid).attempt, [], result, now))


def snapshot(h: Harness) -> bytes:
    """Everything in the state, encoded, so that in-place mutation is detected too."""
    return msgspec.msgpack.encode(
        (
            sorted(h.state.invocations.items()),
            sorted(h.state.journals.items()),
            sorted(msgspec.msgpack.encode(t) for t in h.state.timers),
        )
    )


# --- creation --------------------------------------------------------------------------------


def test_invoke_creates_running_invocation_and_starts_attempt_one() -> None:
    """Invoke journals the Input at index 0 and starts attempt 1 with the whole journal."""
    h = Harness()
    applied = h.invoke(value=b'{"name": "x"}', key="idem-1")
    input_command = InputCommand(HEADERS, b'{"name": "x"}')
    assert applied.outcome == InvokeOutcome(IID, True, Status.RUNNING)
    assert applied.effects == [StartAttempt(IID, 1, TARGET, [input_command], "idem-1")]
    assert applied.follow_ups == []
    assert h.journal() == [input_command]
    inv = h.inv()
    assert (inv.status, inv.attempt, inv.journal_length) == (Status.RUNNING, 1, 1)
    assert (inv.created_at_ms, inv.modified_at_ms) == (T0, T0)
    assert inv.idempotency_key == "idem-1"
    assert inv.retention_ms == RETENTION_MS


def test_duplicate_invoke_answers_with_existing_status_and_changes_nothing() -> None:
    """A second Invoke with the same id is not created again: it reports status and result."""
    h = Harness()
    h.invoke()
    before = snapshot(h)
    applied = h.invoke(now=T0 + 5, value=b"other input")
    assert applied.outcome == InvokeOutcome(IID, False, Status.RUNNING, None)
    assert applied.effects == []
    assert snapshot(h) == before

    h.complete(ok(b"out"), now=T0 + 10)
    again = h.invoke(now=T0 + 20)
    assert again.outcome == InvokeOutcome(
        IID, False, Status.COMPLETED, ok(b"out"), T0 + 10 + RETENTION_MS
    )
    assert again.effects == []


def test_attach_reports_status_and_result_or_none_for_unknown() -> None:
    """Attach answers with the status and result, and with status None for an unknown id."""
    h = Harness()
    assert h.apply(Attach(IID)).outcome == LookupOutcome(None)
    h.invoke()
    assert h.apply(Attach(IID)).outcome == LookupOutcome(Status.RUNNING, None)
    h.complete(ok(b"r"))
    expected = LookupOutcome(Status.COMPLETED, ok(b"r"), T0 + RETENTION_MS)
    assert h.apply(Attach(IID)).outcome == expected


# --- a running attempt -----------------------------------------------------------------------


def test_append_entries_from_current_attempt_extends_journal() -> None:
    """AppendEntries of the current attempt journals in order and tells the live attempt."""
    h = Harness()
    h.invoke()
    entries: list[Entry] = [RunCommand("step", 1), CompletionNotification(1, ok(b"1"))]
    applied = h.apply(AppendEntries(IID, 1, entries, T0 + 3))
    assert applied.outcome is True
    assert applied.effects == [EntriesAppended(IID, 1, 1, entries)]
    assert h.journal()[1:] == entries
    assert h.inv().journal_length == 3
    assert h.inv().modified_at_ms == T0 + 3


def test_append_entries_from_stale_attempt_is_fenced_off() -> None:
    """AppendEntries from an attempt that is no longer current returns False and writes nothing."""
    h = Harness()
    h.invoke()
    h.apply(RecoverInvocation(IID, T0 + 1))  # attempt 2 is now current
    before = snapshot(h)
    applied = h.apply(AppendEntries(IID, 1, [RunCommand("late", 1)], T0 + 2))
    assert applied.outcome is False
    assert applied.effects == []
    assert applied.follow_ups == []
    assert snapshot(h) == before


def test_append_entries_to_suspended_invocation_is_fenced_off() -> None:
    """Once the attempt has suspended, even its own number can no longer append."""
    h = Harness()
    h.invoke()
    h.suspend((17,))
    before = snapshot(h)
    applied = h.apply(AppendEntries(IID, 1, [RunCommand("late", 1)], T0 + 2))
    assert applied.outcome is False
    assert snapshot(h) == before


def test_attempt_suspended_records_waiting_and_entries() -> None:
    """AttemptSuspended journals its entries and leaves the invocation SUSPENDED on `waiting`."""
    h = Harness()
    h.invoke()
    entries: list[Entry] = [RunCommand("r", 1)]
    applied = h.suspend((17, 18), now=T0 + 4, entries=entries)
    assert applied.outcome is True
    assert applied.effects == []
    inv = h.inv()
    assert inv.status == Status.SUSPENDED
    assert inv.waiting == Waiting(signal_indexes=(17, 18))
    assert inv.attempt == 1
    assert h.journal()[1:] == entries
    assert inv.journal_length == 2


def test_signal_for_awaited_index_wakes_suspended_invocation() -> None:
    """A signal the suspension waits on is journaled and starts the next attempt."""
    h = Harness()
    h.invoke()
    h.suspend((17,))
    applied = h.apply(DeliverSignal(IID, 17, ok(b"yes"), T0 + 10))
    assert applied.outcome == SignalOutcome(Delivery.APPLIED, T0 + 10)
    assert applied.effects == [StartAttempt(IID, 2, TARGET)]
    assert h.journal()[-1] == SignalNotification(17, ok(b"yes"))
    inv = h.inv()
    assert (inv.status, inv.attempt, inv.waiting) == (Status.RUNNING, 2, None)
    assert inv.journal_length == 2


def test_signal_for_other_index_is_journaled_without_waking() -> None:
    """A signal the suspension does not wait on is journaled only; the invocation sleeps on."""
    h = Harness()
    h.invoke()
    h.suspend((17,))
    applied = h.apply(DeliverSignal(IID, 18, ok(b"other"), T0 + 10))
    assert applied.outcome == SignalOutcome(Delivery.APPLIED, T0 + 10)
    assert applied.effects == []
    assert h.journal()[-1] == SignalNotification(18, ok(b"other"))
    inv = h.inv()
    assert (inv.status, inv.attempt) == (Status.SUSPENDED, 1)
    assert inv.waiting == Waiting(signal_indexes=(17,))


def test_signal_to_running_invocation_is_forwarded_to_the_live_attempt() -> None:
    """A signal for a RUNNING invocation is journaled and handed to the current attempt."""
    h = Harness()
    h.invoke()
    applied = h.apply(DeliverSignal(IID, 17, ok(b"v"), T0 + 1))
    notification = SignalNotification(17, ok(b"v"))
    assert applied.outcome == SignalOutcome(Delivery.APPLIED, T0 + 1)
    assert applied.effects == [EntriesAppended(IID, 1, 1, [notification])]
    assert h.inv().status == Status.RUNNING
    assert h.inv().attempt == 1


@pytest.mark.parametrize("status", [Status.BACKING_OFF, Status.PAUSED])
def test_signal_to_backing_off_or_paused_invocation_is_journaled_only(status: Status) -> None:
    """Signals reach BACKING_OFF and PAUSED invocations' journals but start no attempt."""
    h = Harness(RetryPolicy(max_attempts=1 if status == Status.PAUSED else 5))
    h.invoke()
    h.fail()
    assert h.inv().status == status
    applied = h.apply(DeliverSignal(IID, 17, ok(), T0 + 1))
    assert applied.outcome == SignalOutcome(Delivery.APPLIED, T0 + 1)
    assert applied.effects == []
    assert h.journal()[-1] == SignalNotification(17, ok())
    assert (h.inv().status, h.inv().attempt) == (status, 1)


def test_suspension_racing_a_notification_goes_straight_to_a_new_attempt() -> None:
    """AttemptSuspended that saw fewer entries than the journal has starts a new attempt."""
    h = Harness()
    h.invoke()
    h.apply(DeliverSignal(IID, 17, ok(), T0 + 1))  # lands while attempt 1 decides to suspend
    assert h.inv().journal_length == 2
    applied = h.suspend((17,), now=T0 + 2, known_length=1, entries=[RunCommand("r", 1)])
    assert applied.outcome is True
    assert applied.effects == [StartAttempt(IID, 2, TARGET)]
    inv = h.inv()
    assert (inv.status, inv.attempt, inv.waiting) == (Status.RUNNING, 2, None)
    assert h.journal()[2] == RunCommand("r", 1)  # the attempt's own entries are kept
    assert inv.journal_length == 3


def test_attempt_completed_appends_output_and_finishes() -> None:
    """AttemptCompleted appends Output last, stores the result and the retention deadline."""
    h = Harness()
    h.invoke()
    entries: list[Entry] = [RunCommand("r", 1), CompletionNotification(1, ok(b"1"))]
    result = ok(b'"hello"')
    applied = h.apply(AttemptCompleted(IID, 1, entries, result, T0 + 50))
    assert applied.outcome is True
    assert applied.effects == [InvocationFinished(IID, result, T0 + 50 + RETENTION_MS)]
    assert h.journal() == [InputCommand(HEADERS, b"in"), *entries, OutputCommand(result)]
    inv = h.inv()
    assert inv.status == Status.COMPLETED
    assert inv.result == result
    assert inv.completed_at_ms == T0 + 50
    assert inv.expires_at_ms == T0 + 50 + RETENTION_MS
    assert inv.journal_length == 4


def test_attempt_completed_with_terminal_failure_finishes_with_the_failure() -> None:
    """A TerminalError result completes the invocation with that failure, not a retry."""
    h = Harness()
    h.invoke()
    result = Result(failure=Failure(404, "not found"))
    applied = h.complete(result, now=T0 + 1)
    assert applied.effects == [InvocationFinished(IID, result, T0 + 1 + RETENTION_MS)]
    assert h.inv().status == Status.COMPLETED
    assert h.inv().result == result
    assert h.state.timers == set()


def test_stale_attempt_completion_is_ignored() -> None:
    """AttemptCompleted from a superseded attempt neither completes nor journals."""
    h = Harness()
    h.invoke()
    h.apply(RecoverInvocation(IID, T0 + 1))
    before = snapshot(h)
    applied = h.apply(AttemptCompleted(IID, 1, [], ok(), T0 + 2))
    assert applied.outcome is False
    assert applied.effects == []
    assert snapshot(h) == before


# --- failures and retries --------------------------------------------------------------------


def test_attempt_failed_backs_off_with_a_retry_timer() -> None:
    """AttemptFailed leaves the invocation BACKING_OFF with a RETRY timer at now + 500 ms."""
    h = Harness()
    h.invoke()
    applied = h.fail(now=T0 + 100)
    due = T0 + 100 + 500
    assert applied.outcome is True
    assert applied.effects == [TimerScheduled(due)]
    inv = h.inv()
    assert inv.status == Status.BACKING_OFF
    assert (inv.retry_count, inv.next_retry_at_ms, inv.last_failure) == (1, due, BOOM)
    assert h.state.timers == {Timer(due, IID, TimerKind.RETRY, 1)}


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    """Successive retries wait 500 ms, 1 s, 2 s, … and never more than max_interval."""
    h = Harness(RetryPolicy(max_interval_ms=3_000, max_attempts=None))
    h.invoke()
    delays = []
    now = T0
    for _ in range(6):
        h.fail(now=now)
        (timer,) = h.state.timers
        delays.append(timer.due_ms - now)
        h.fire_pending_timer()
        now = timer.due_ms + 7
    assert delays == [500, 1_000, 2_000, 3_000, 3_000, 3_000]


def test_retry_timer_fired_starts_next_attempt_and_removes_timer() -> None:
    """TimerFired for the current backoff starts attempt+1 and deletes the timer."""
    h = Harness()
    h.invoke()
    h.fail(now=T0)
    applied = h.fire_pending_timer()
    assert applied.outcome is True
    assert applied.effects == [StartAttempt(IID, 2, TARGET)]
    inv = h.inv()
    assert (inv.status, inv.attempt, inv.next_retry_at_ms) == (Status.RUNNING, 2, None)
    assert inv.modified_at_ms == T0 + 500
    assert h.state.timers == set()


def test_stale_timer_fired_is_ignored() -> None:
    """A timer of an earlier attempt, or for an invocation not backing off, changes nothing."""
    h = Harness()
    h.invoke()
    h.fail(now=T0)
    (timer,) = h.state.timers
    h.fire_pending_timer()
    before = snapshot(h)
    again = h.apply(TimerFired(timer, T0 + 10_000))  # delivered twice
    assert again.outcome is False
    assert again.effects == []
    assert snapshot(h) == before

    h.fail(now=T0 + 20_000)  # attempt 2 backs off; attempt 1's timer is still stale
    before = snapshot(h)
    stale = h.apply(TimerFired(Timer(T0 + 1, IID, TimerKind.RETRY, 1), T0 + 20_001))
    assert stale.outcome is False
    assert stale.effects == []
    assert snapshot(h) == before

    unknown = h.apply(TimerFired(Timer(T0, OTHER, TimerKind.RETRY, 1), T0 + 20_002))
    assert unknown.outcome is False
    assert OTHER not in h.state.invocations


def test_retry_after_overrides_policy_delay() -> None:
    """An AttemptFailed with retry_after_ms schedules the retry after exactly that delay."""
    h = Harness()
    h.invoke()
    h.fail(now=T0, retry_after_ms=7_250)
    assert h.state.timers == {Timer(T0 + 7_250, IID, TimerKind.RETRY, 1)}
    assert h.inv().next_retry_at_ms == T0 + 7_250


def test_unlimited_retries_keep_backing_off_at_the_cap() -> None:
    """With max_attempts=None, even the 1025th retry is scheduled max_interval later."""
    h = Harness(RetryPolicy(max_attempts=None))
    h.invoke()
    for _ in range(1_024):
        h.fail()
        h.fire_pending_timer()
    h.fail(now=T0)
    assert h.state.timers == {Timer(T0 + 60_000, IID, TimerKind.RETRY, 1_025)}


def test_exhausted_retries_pause_the_invocation() -> None:
    """With on_max_attempts="pause", the max_attempts-th failure leaves it PAUSED, no timer."""
    h = Harness(RetryPolicy(max_attempts=3, on_max_attempts="pause"))
    h.invoke()
    h.fail()
    h.fire_pending_timer()
    h.fail()
    h.fire_pending_timer()
    applied = h.fail(now=T0 + 9_000)
    assert applied.outcome is True
    assert applied.effects == []
    inv = h.inv()
    assert (inv.status, inv.attempt, inv.retry_count) == (Status.PAUSED, 3, 3)
    assert inv.last_failure == BOOM
    assert inv.result is None
    assert h.state.timers == set()
    assert not any(isinstance(e, OutputCommand) for e in h.journal())


def test_exhausted_retries_kill_completes_with_the_failure() -> None:
    """With on_max_attempts="kill", the last failure becomes the invocation's result."""
    h = Harness(RetryPolicy(max_attempts=2, on_max_attempts="kill"))
    h.invoke()
    h.fail()
    h.fire_pending_timer()
    applied = h.fail(now=T0 + 9_000)
    result = Result(failure=BOOM)
    assert applied.effects == [InvocationFinished(IID, result, T0 + 9_000 + RETENTION_MS)]
    inv = h.inv()
    assert (inv.status, inv.result) == (Status.COMPLETED, result)
    assert inv.expires_at_ms == T0 + 9_000 + RETENTION_MS
    assert h.journal()[-1] == OutputCommand(result)
    assert h.state.timers == set()


def test_resume_paused_invocation_starts_over_with_fresh_retries() -> None:
    """ResumeInvocation on PAUSED starts a new attempt and resets the retry count."""
    h = Harness(RetryPolicy(max_attempts=1))
    h.invoke()
    h.fail()
    assert h.inv().status == Status.PAUSED
    applied = h.apply(ResumeInvocation(IID, T0 + 60_000))
    assert applied.outcome == LookupOutcome(Status.PAUSED, None)
    assert applied.effects == [StartAttempt(IID, 2, TARGET)]
    inv = h.inv()
    assert (inv.status, inv.attempt, inv.retry_count) == (Status.RUNNING, 2, 0)
    assert inv.modified_at_ms == T0 + 60_000


def test_resume_of_non_paused_or_unknown_invocation_changes_nothing() -> None:
    """ResumeInvocation reports the status of a non-paused invocation and leaves it alone."""
    h = Harness()
    assert h.apply(ResumeInvocation(IID, T0)).outcome == LookupOutcome(None)
    h.invoke()
    h.suspend((17,))
    before = snapshot(h)
    applied = h.apply(ResumeInvocation(IID, T0 + 1))
    assert applied.outcome == LookupOutcome(Status.SUSPENDED, None)
    assert applied.effects == []
    assert snapshot(h) == before


def test_recover_running_invocation_starts_a_new_attempt() -> None:
    """RecoverInvocation of a RUNNING invocation fences the old attempt by starting the next."""
    h = Harness()
    h.invoke()
    applied = h.apply(RecoverInvocation(IID, T0 + 1))
    assert applied.outcome is True
    assert applied.effects == [StartAttempt(IID, 2, TARGET)]
    assert (h.inv().status, h.inv().attempt) == (Status.RUNNING, 2)


def test_recover_of_suspended_or_unknown_invocation_does_nothing() -> None:
    """RecoverInvocation applies only to RUNNING invocations."""
    h = Harness()
    assert h.apply(RecoverInvocation(IID, T0)).outcome is False
    h.invoke()
    h.suspend((17,))
    before = snapshot(h)
    applied = h.apply(RecoverInvocation(IID, T0 + 1))
    assert applied.outcome is False
    assert applied.effects == []
    assert snapshot(h) == before


# --- signals to the dead ---------------------------------------------------------------------


def test_signal_to_unknown_invocation_is_dropped() -> None:
    """DeliverSignal to an unknown invocation answers UNKNOWN and creates nothing."""
    h = Harness()
    applied = h.apply(DeliverSignal(OTHER, 17, ok(), T0))
    assert applied.outcome == SignalOutcome(Delivery.UNKNOWN)
    assert applied.effects == []
    assert h.state.invocations == {}
    assert h.state.journals == {}


def test_signal_to_completed_invocation_is_dropped() -> None:
    """DeliverSignal to a COMPLETED invocation answers CLOSED and leaves its journal alone."""
    h = Harness()
    h.invoke()
    h.complete(ok())
    before = snapshot(h)
    applied = h.apply(DeliverSignal(IID, 17, ok(b"late"), T0 + 1))
    assert applied.outcome == SignalOutcome(Delivery.CLOSED)
    assert applied.effects == []
    assert snapshot(h) == before


# --- awakeables between invocations ----------------------------------------------------------


def test_complete_awakeable_command_delivers_signal_to_its_owner() -> None:
    """Journaling CompleteAwakeable yields a DeliverSignal follow-up that wakes the owner."""
    h = Harness()
    h.invoke(OTHER)
    h.suspend((17,), iid=OTHER)
    h.invoke(IID)
    awakeable = str(AwakeableId(OTHER, 17))
    command = CompleteAwakeableCommand(awakeable, ok(b"approved"))
    applied = h.apply(AppendEntries(IID, 1, [command], T0 + 5))
    assert applied.outcome is True
    assert h.journal(IID)[-1] == command
    assert applied.follow_ups == [DeliverSignal(OTHER, 17, ok(b"approved"), T0 + 5)]
    woken = h.apply(applied.follow_ups[0])
    assert woken.effects == [StartAttempt(OTHER, 2, TARGET)]
    assert h.journal(OTHER)[-1] == SignalNotification(17, ok(b"approved"))


def test_complete_awakeable_with_malformed_id_is_journaled_without_follow_up() -> None:
    """A CompleteAwakeable whose id does not decode is kept but routes nowhere."""
    h = Harness()
    h.invoke()
    command = CompleteAwakeableCommand("sign_1garbage", ok())
    applied = h.apply(AppendEntries(IID, 1, [command], T0 + 1))
    assert applied.outcome is True
    assert applied.follow_ups == []
    assert h.journal()[-1] == command


def test_complete_awakeable_with_legacy_prom_id_does_not_deliver_signal_n() -> None:
    """`prom_1…` names a journal entry, not a signal: no signal N reaches the target."""
    h = Harness()
    h.invoke(OTHER)
    h.suspend((17,), iid=OTHER)
    h.invoke(IID)
    command = CompleteAwakeableCommand(str(AwakeableRef(OTHER, "entry", 17)), ok())
    applied = h.apply(AppendEntries(IID, 1, [command], T0 + 1))
    assert applied.outcome is True
    assert applied.follow_ups == []
    assert h.journal()[-1] == command


def test_complete_awakeable_in_completing_attempt_still_routes() -> None:
    """CompleteAwakeable among an AttemptCompleted's entries also yields its follow-up."""
    h = Harness()
    h.invoke(OTHER)
    h.invoke(IID)
    command = CompleteAwakeableCommand(str(AwakeableId(OTHER, 18)), ok(b"x"))
    applied = h.apply(AttemptCompleted(IID, 1, [command], ok(), T0 + 9))
    assert applied.follow_ups == [DeliverSignal(OTHER, 18, ok(b"x"), T0 + 9)]


# --- retention -------------------------------------------------------------------------------


def test_purge_expired_deletes_only_completed_invocations_past_retention() -> None:
    """PurgeExpired deletes completed invocations with expires_at <= now, journal and all."""
    h = Harness(retention_ms=1_000)
    due, later, running = InvocationId(1, 1), InvocationId(2, 2), InvocationId(3, 3)
    for iid in (due, later, running):
        h.invoke(iid)
    h.complete(ok(), now=T0, iid=due)  # expires at T0 + 1000
    h.complete(ok(), now=T0 + 1, iid=later)  # expires at T0 + 1001
    applied = h.apply(PurgeExpired([due, later, running, OTHER], T0 + 1_000))
    assert applied.outcome is True
    assert due not in h.state.invocations
    assert due not in h.state.journals
    assert h.inv(later).status == Status.COMPLETED
    assert len(h.journal(later)) == 2
    assert h.inv(running).status == Status.RUNNING
    h.apply(PurgeExpired([later], T0 + 1_001))
    assert later not in h.state.invocations


# --- properties over random event sequences --------------------------------------------------

IIDS = (InvocationId(1, 10), InvocationId(2, 20), InvocationId(3, 30))

ops = st.one_of(
    # events of an attempt, from the current one or (flag True) the one before it
    st.tuples(st.just("append"), st.integers(0, 2), st.booleans(), st.integers(1, 3)),
    st.tuples(
        st.just("suspend"),
        st.integers(0, 2),
        st.booleans(),
        st.sets(st.integers(17, 19), min_size=1),
        st.sampled_from([True, True, False]),  # False: a notification raced the suspension
    ),
    st.tuples(st.just("complete"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("fail"), st.integers(0, 2), st.booleans(), st.none() | st.integers(0, 5)),
    # events from outside
    st.tuples(st.just("signal"), st.integers(0, 2), st.integers(17, 19)),
    st.tuples(st.just("awakeable"), st.integers(0, 2), st.integers(0, 2), st.integers(17, 19)),
    st.tuples(st.just("fire"), st.integers(0, 2), st.booleans()),  # True: the real timer
    st.tuples(st.just("resume"), st.integers(0, 2)),
    st.tuples(st.just("recover"), st.integers(0, 2)),
    st.tuples(st.just("invoke"), st.integers(0, 2)),
    st.tuples(st.just("purge"), st.integers(0, 3_000)),
)


@dataclass
class Model:
    """What the property test remembers between events."""

    h: Harness
    now: int = T0
    max_attempt: dict[InvocationId, int] = field(default_factory=dict)
    completed: dict[InvocationId, bytes] = field(default_factory=dict)
    purged: set[InvocationId] = field(default_factory=set)
    suspended_at: dict[InvocationId, int] = field(default_factory=dict)


def _record(h: Harness, iid: InvocationId) -> bytes:
    return msgspec.msgpack.encode((h.state.invocations.get(iid), h.journal(iid)))


def _attempt_event(
    op: tuple[object, ...], iid: InvocationId, inv: Invocation, attempt: int, now: int
) -> Event:
    """The event an attempt (current or stale) sends for an `append`/`suspend`/… op."""
    kind = op[0]
    if kind == "append":
        n = op[3]
        assert isinstance(n, int)
        return AppendEntries(iid, attempt, [RunCommand(f"r{i}", i) for i in range(n)], now)
    if kind == "suspend":
        signals, saw_all = op[3], op[4]
        assert isinstance(signals, set)
        length = inv.journal_length
        known = length if saw_all else max(length - 1, 1)
        return AttemptSuspended(
            iid, attempt, [], Waiting(signal_indexes=tuple(sorted(signals))), known, now
        )
    if kind == "complete":
        return AttemptCompleted(iid, attempt, [RunCommand("last", 99)], ok(b"fin"), now)
    retry_after = op[3]
    assert retry_after is None or isinstance(retry_after, int)
    return AttemptFailed(iid, attempt, [], BOOM, now, retry_after_ms=retry_after)


def _apply_all(m: Model, event: Event) -> list[Applied]:
    """Apply an event and, like the runtime does, its follow-ups."""
    results = [m.h.apply(event)]
    pending = list(results[0].follow_ups)
    while pending:
        follow = pending.pop(0)
        applied = m.h.apply(follow)
        results.append(applied)
        pending.extend(applied.follow_ups)
    return results


def _step(m: Model, op: tuple[object, ...]) -> None:
    """Apply one random op, checking the fencing of attempt events and timers on the way."""
    kind = op[0]
    m.now += 13
    if kind == "purge":
        delta = op[1]
        assert isinstance(delta, int)
        m.now += delta
        due = {
            iid
            for iid, inv in m.h.state.invocations.items()
            if inv.status == Status.COMPLETED and (inv.expires_at_ms or 0) <= m.now
        }
        alive = set(m.h.state.invocations) - due
        _apply_all(m, PurgeExpired(list(IIDS), m.now))
        assert set(m.h.state.invocations) == alive
        return
    index = op[1]
    assert isinstance(index, int)
    iid = IIDS[index]
    inv = m.h.state.invocation(iid)
    if kind == "invoke":
        if inv is None:  # new, or created again after a purge
            m.purged.discard(iid)
            m.max_attempt.pop(iid, None)
        _apply_all(m, Invoke(iid, TARGET, b"in", HEADERS, m.now))
        return
    if inv is None:
        return
    before = _record(m.h, iid)
    if kind in ("append", "suspend", "complete", "fail"):
        stale = op[2]
        attempt = inv.attempt - 1 if stale else inv.attempt
        accepted = inv.status == Status.RUNNING and attempt == inv.attempt
        length = inv.journal_length
        event = _attempt_event(op, iid, inv, attempt, m.now)
        first = _apply_all(m, event)[0]
        assert first.outcome is accepted
        if not accepted:
            assert _record(m.h, iid) == before, "a stale attempt changed the invocation"
        elif isinstance(event, AttemptSuspended):
            after = m.h.inv(iid)
            if event.known_length < length:  # it missed entries: replay them at once
                assert (after.status, after.attempt) == (Status.RUNNING, attempt + 1)
            else:
                assert after.status == Status.SUSPENDED
                m.suspended_at[iid] = after.journal_length
    elif kind == "signal":
        signal = op[2]
        assert isinstance(signal, int)
        _apply_all(m, DeliverSignal(iid, signal, ok(b"s"), m.now))
    elif kind == "awakeable":
        target, signal = op[2], op[3]
        assert isinstance(target, int)
        assert isinstance(signal, int)
        command = CompleteAwakeableCommand(str(AwakeableId(IIDS[target], signal)), ok(b"a"))
        accepted = inv.status == Status.RUNNING
        first = _apply_all(m, AppendEntries(iid, inv.attempt, [command], m.now))[0]
        assert first.outcome is accepted
    elif kind == "fire":
        real = [t for t in m.h.state.timers if t.invocation_id == iid]
        if real and op[2]:
            timer = real[0]
            m.now = max(m.now, timer.due_ms)
        else:
            timer = Timer(m.now, iid, TimerKind.RETRY, inv.attempt - 1)
        expected = inv.status == Status.BACKING_OFF and timer.attempt == inv.attempt
        assert _apply_all(m, TimerFired(timer, m.now))[0].outcome is expected
    elif kind == "resume":
        _apply_all(m, ResumeInvocation(iid, m.now))
    elif kind == "recover":
        _apply_all(m, RecoverInvocation(iid, m.now))


def _check_invariants(m: Model) -> None:
    h = m.h
    assert set(h.state.journals) == set(h.state.invocations)
    for iid, inv in h.state.invocations.items():
        journal = h.journal(iid)
        assert len(journal) == inv.journal_length
        assert isinstance(journal[0], InputCommand)
        assert not any(isinstance(e, InputCommand) for e in journal[1:])
        outputs = [i for i, e in enumerate(journal) if isinstance(e, OutputCommand)]
        if inv.status == Status.COMPLETED:
            assert outputs == [len(journal) - 1]
            assert inv.result is not None
            assert journal[-1] == OutputCommand(inv.result)
            assert inv.completed_at_ms is not None
            assert inv.expires_at_ms == inv.completed_at_ms + inv.retention_ms
        else:
            assert outputs == []
            assert inv.result is None
        assert (inv.waiting is not None) == (inv.status == Status.SUSPENDED)
        if inv.waiting is not None:  # no wake-up lost: nothing it waits on arrived since
            arrived = journal[m.suspended_at[iid] :]
            assert not any(
                isinstance(e, SignalNotification) and inv.waiting.wakes_on_signal(e.index)
                for e in arrived
            )
        assert inv.attempt >= m.max_attempt.get(iid, 0), "attempt number went down"
        m.max_attempt[iid] = inv.attempt
        if iid in m.completed:
            assert _record(h, iid) == m.completed[iid], "a completed invocation changed"
        elif inv.status == Status.COMPLETED:
            m.completed[iid] = _record(h, iid)
    # Exactly one RETRY timer per backing-off invocation, fenced by its current attempt.
    expected_timers = {
        Timer(inv.next_retry_at_ms or -1, iid, TimerKind.RETRY, inv.attempt)
        for iid, inv in h.state.invocations.items()
        if inv.status == Status.BACKING_OFF
    }
    assert h.state.timers == expected_timers
    for iid in list(m.completed):
        if iid not in h.state.invocations:
            m.purged.add(iid)
            del m.completed[iid]
    for iid in m.purged:
        assert iid not in h.state.invocations


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(ops, min_size=20, max_size=80),
    st.integers(1, 4),
    st.sampled_from(["pause", "kill"]),
)
def test_random_event_sequences_keep_the_invariants(
    sequence: list[tuple[object, ...]], max_attempts: int, on_max: str
) -> None:
    """Journals stay contiguous, completion is final, attempts only grow, stale ones never write."""
    m = Model(Harness(RetryPolicy(max_attempts=max_attempts, on_max_attempts=on_max), 1_000))
    for iid in IIDS[:2]:
        _apply_all(m, Invoke(iid, TARGET, b"in", HEADERS, m.now))
    _check_invariants(m)
    for op in sequence:
        _step(m, op)
        _check_invariants(m)
