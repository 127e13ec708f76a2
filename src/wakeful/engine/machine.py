"""The invocation lifecycle as a pure state machine: `apply(state, event) -> Applied`.

```
 Invoke ─► (SCHEDULED ─ timer ─►) (INBOXED ─ key released ─►) RUNNING
   RUNNING ── AttemptSuspended ──► SUSPENDED ── a completion/signal it waits on ──► RUNNING
   RUNNING ── AttemptFailed ─────► BACKING_OFF ── retry timer ──► RUNNING
                                    └─ retries exhausted ─► PAUSED ── resume/cancel ──► RUNNING
   RUNNING ── AttemptCompleted ──► COMPLETED ── retention expires / purge ──► (deleted)
   any live status ── Kill ──► COMPLETED (409 killed)
```

Every attempt has a number; events from an attempt that is no longer the current one are
ignored (fencing), so a stale attempt can never write to a journal. What journal commands do
beyond being recorded (state writes, timers, calls, promises) is in `engine.commands`; the
per-key lock and inbox of virtual objects in `engine.keyed`.
"""

from __future__ import annotations

from wakeful.engine import commands, keyed
from wakeful.engine.applied import DAY_MS, Applied, EngineConfig
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
    Attach,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Cancel,
    CompletePromise,
    DeliverCompletion,
    DeliverSignal,
    Event,
    Invoke,
    InvokeOutcome,
    Kill,
    LookupOutcome,
    Purge,
    PurgeExpired,
    RecoverInvocation,
    ResumeInvocation,
    StartInboxed,
    StartInvocation,
    TimerFired,
)
from wakeful.engine.model import (
    HandlerKind,
    Invocation,
    Status,
    Timer,
    TimerKind,
    Waiting,
)
from wakeful.engine.state import PartitionState
from wakeful.engine.waits import Delivery, SignalOutcome, check_signal, deadline_of, result_digest
from wakeful.journal.entries import (
    CompletionNotification,
    Entry,
    Failure,
    InputCommand,
    Notification,
    OutputCommand,
    Result,
    SignalNotification,
)
from wakeful.journal.ids import CANCEL_SIGNAL, FIRST_AWAKEABLE_SIGNAL, AwakeableId, InvocationId

__all__ = ["DAY_MS", "Applied", "Engine", "EngineConfig"]

# Statuses in which an invocation still accepts notifications (Restate: invoked, suspended, paused).
_ALIVE = frozenset({Status.RUNNING, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED})
# Statuses of an invocation that has not started yet.
_WAITING_TO_START = frozenset({Status.INBOXED, Status.SCHEDULED, Status.PENDING})

KILLED = Failure(409, "killed")
CANCELED = Failure(409, "canceled")
CANCELLED_SIGNAL = Result(failure=Failure(409, "cancelled"))
WORKFLOW_ALREADY_INVOKED = Failure(409, "the workflow method was already invoked")


class Engine:
    """Applies events to a partition's state. Pure: no I/O, no clock, no randomness."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()

    def apply(self, state: PartitionState, event: Event) -> Applied:
        """Apply one event; the caller commits the state changes, then runs the effects."""
        out = Applied()
        match event:
            case Invoke():
                out.outcome = self._invoke(state, event, out)
            case Attach(invocation_id=iid):
                inv = state.invocation(iid)
                out.outcome = _lookup(inv)
            case AppendEntries():
                out.outcome = self._append_entries(state, event, out)
            case AttemptSuspended():
                out.outcome = self._suspend(state, event, out)
            case AttemptCompleted():
                out.outcome = self._complete_attempt(state, event, out)
            case AttemptFailed():
                out.outcome = self._fail_attempt(state, event, out)
            case DeliverSignal():
                out.outcome = self._deliver_signal(state, event, out)
            case CompletePromise():
                out.outcome = _complete_promise(state, event, out)
            case DeliverCompletion():
                done = CompletionNotification(event.completion_id, event.result)
                out.outcome = self._notify(state, event.invocation_id, done, event.now_ms, out)
            case AddCaller():
                out.outcome = self._add_caller(state, event, out)
            case Cancel():
                out.outcome = self._cancel(state, event, out)
            case Kill():
                out.outcome = self._kill(state, event.invocation_id, event.now_ms, out)
            case Purge():
                out.outcome = self._purge_one(state, event)
            case StartInboxed():
                out.outcome = keyed.start_inboxed(state, event, out)
            case StartInvocation():
                out.outcome = self._start_waiting(state, event.invocation_id, event.now_ms, out)
            case TimerFired():
                out.outcome = self._timer_fired(state, event, out)
            case ResumeInvocation():
                out.outcome = self._resume(state, event, out)
            case RecoverInvocation():
                out.outcome = self._recover(state, event, out)
            case PurgeExpired():
                out.outcome = self._purge_expired(state, event)
        return out

    # -- creation -------------------------------------------------------------------------

    def _invoke(self, state: PartitionState, ev: Invoke, out: Applied) -> InvokeOutcome:
        iid = ev.invocation_id
        existing = state.invocation(iid)
        if existing is not None:
            if ev.caller is not None:
                if ev.kind == HandlerKind.WORKFLOW:
                    failure = Result(failure=WORKFLOW_ALREADY_INVOKED)
                    out.follow_ups.append(DeliverCompletion(*ev.caller, failure, ev.now_ms))
                else:
                    self._attach_caller(state, iid, existing, ev.caller, ev.now_ms, out)
            return InvokeOutcome(
                iid, False, existing.status, existing.result, existing.expires_at_ms
            )
        inv = Invocation(
            target=ev.target,
            status=Status.PENDING,
            created_at_ms=ev.now_ms,
            modified_at_ms=ev.now_ms,
            journal_length=1,
            attempt=0,
            idempotency_key=ev.idempotency_key,
            retention_ms=self.config.completion_retention_ms(ev.target, ev.kind),
            kind=ev.kind,
            callers=[] if ev.caller is None else [(ev.caller[0].to_bytes(), ev.caller[1])],
            invoke_at_ms=ev.invoke_at_ms,
            awakeables=0 if self.config.tracks_awakeables(ev.target) else None,
        )
        input_command = InputCommand(ev.headers, ev.input)
        state.append(iid, 0, input_command)
        if ev.invoke_at_ms is not None and ev.invoke_at_ms > ev.now_ms:
            inv.status = Status.SCHEDULED
            state.add_timer(Timer(ev.invoke_at_ms, iid, TimerKind.INVOKE, _generation(inv)))
            out.effects.append(TimerScheduled(ev.invoke_at_ms))
        else:
            keyed.admit(state, iid, inv, out, [input_command])
        state.put_invocation(iid, inv)
        return InvokeOutcome(iid, True, inv.status)

    def _start_waiting(
        self, state: PartitionState, iid: InvocationId, now_ms: int, out: Applied
    ) -> bool:
        inv = state.invocation(iid)
        if inv is None or inv.status not in _WAITING_TO_START:
            return False
        inv.modified_at_ms = now_ms
        keyed.admit(state, iid, inv, out, None)
        state.put_invocation(iid, inv)
        return True

    # -- a running attempt ----------------------------------------------------------------

    @staticmethod
    def _current(state: PartitionState, iid: InvocationId, attempt: int) -> Invocation | None:
        inv = state.invocation(iid)
        if inv is None or inv.status != Status.RUNNING or inv.attempt != attempt:
            return None
        return inv

    def _append(
        self,
        state: PartitionState,
        iid: InvocationId,
        inv: Invocation,
        entries: list[Entry],
        now_ms: int,
        out: Applied,
    ) -> int:
        first = inv.journal_length
        for entry in entries:
            state.append(iid, inv.journal_length, entry)
            inv.journal_length += 1
            if isinstance(entry, CompletionNotification):
                inv.sleeps.pop(entry.completion_id, None)
            else:
                commands.on_command(self.config, state, iid, inv, entry, now_ms, out)
        inv.modified_at_ms = now_ms
        return first

    def _append_entries(self, state: PartitionState, ev: AppendEntries, out: Applied) -> bool:
        inv = self._current(state, ev.invocation_id, ev.attempt)
        if inv is None:
            return False
        first = self._append(state, ev.invocation_id, inv, ev.entries, ev.now_ms, out)
        state.put_invocation(ev.invocation_id, inv)
        out.effects.append(EntriesAppended(ev.invocation_id, ev.attempt, first, ev.entries))
        return True

    def _suspend(self, state: PartitionState, ev: AttemptSuspended, out: Applied) -> bool:
        inv = self._current(state, ev.invocation_id, ev.attempt)
        if inv is None:
            return False
        # Entries the attempt never saw (a notification that raced its decision) may unblock
        # it: rather than suspend, go straight to a new attempt that replays them.
        missed = inv.journal_length > ev.known_length
        self._append(state, ev.invocation_id, inv, ev.entries, ev.now_ms, out)
        if missed:
            _start_new_attempt(ev.invocation_id, inv, out)
        else:
            inv.status = Status.SUSPENDED
            inv.waiting = ev.waiting
            _index_deadline(state, ev.invocation_id, inv, ev.waiting)
        state.put_invocation(ev.invocation_id, inv)
        return True

    def _complete_attempt(self, state: PartitionState, ev: AttemptCompleted, out: Applied) -> bool:
        inv = self._current(state, ev.invocation_id, ev.attempt)
        if inv is None:
            return False
        self._append(state, ev.invocation_id, inv, ev.entries, ev.now_ms, out)
        self._finish(state, ev.invocation_id, inv, ev.result, ev.now_ms, out)
        return True

    def _fail_attempt(self, state: PartitionState, ev: AttemptFailed, out: Applied) -> bool:
        inv = self._current(state, ev.invocation_id, ev.attempt)
        if inv is None:
            return False
        self._append(state, ev.invocation_id, inv, ev.entries, ev.now_ms, out)
        inv.retry_count += 1
        inv.last_failure = ev.failure
        policy = self.config.retry_policy(inv.target)
        if policy.exhausted(inv.retry_count):
            if policy.on_max_attempts == "kill":
                self._finish(
                    state, ev.invocation_id, inv, Result(failure=ev.failure), ev.now_ms, out
                )
                return True
            inv.status = Status.PAUSED
        else:
            delay = ev.retry_after_ms
            if delay is None:
                delay = policy.delay_ms(inv.retry_count)
            inv.status = Status.BACKING_OFF
            inv.next_retry_at_ms = ev.now_ms + delay
            state.add_timer(
                Timer(inv.next_retry_at_ms, ev.invocation_id, TimerKind.RETRY, inv.attempt)
            )
            out.effects.append(TimerScheduled(inv.next_retry_at_ms))
        state.put_invocation(ev.invocation_id, inv)
        return True

    # -- notifications from outside ---------------------------------------------------------

    def _deliver_signal(
        self, state: PartitionState, ev: DeliverSignal, out: Applied
    ) -> SignalOutcome:
        iid, index = ev.invocation_id, ev.index
        inv = state.invocation(iid)
        refused = check_signal(inv, index, ev.result)
        if refused is not None:
            return refused
        signal = SignalNotification(index, ev.result)
        if not self._notify(state, iid, signal, ev.now_ms, out):
            return SignalOutcome(Delivery.UNKNOWN)
        assert inv is not None  # check_signal refuses unknown invocations
        inv.signals_done[index] = (ev.now_ms, result_digest(ev.result))
        state.complete_wait(str(AwakeableId(iid, index)), ev.now_ms, ev.result)
        return SignalOutcome(Delivery.APPLIED, ev.now_ms)

    def _notify(
        self,
        state: PartitionState,
        iid: InvocationId,
        notification: Notification,
        now_ms: int,
        out: Applied,
    ) -> bool:
        inv = state.invocation(iid)
        if inv is None or inv.status not in _ALIVE:
            return False  # unknown or finished: dropped, as Restate does
        first = self._append(state, iid, inv, [notification], now_ms, out)
        if inv.status == Status.RUNNING:
            out.effects.append(EntriesAppended(iid, inv.attempt, first, [notification]))
        elif inv.status == Status.SUSPENDED and inv.waiting is not None:
            if isinstance(notification, CompletionNotification):
                wake, rest = inv.waiting.progress(notification.completion_id, None)
            else:
                wake, rest = inv.waiting.progress(None, notification.index)
            if wake:
                _start_new_attempt(iid, inv, out)
            else:
                inv.waiting = rest  # an all-of await: one fewer to wait for
        state.put_invocation(iid, inv)
        return True

    def _add_caller(self, state: PartitionState, ev: AddCaller, out: Applied) -> bool:
        inv = state.invocation(ev.invocation_id)
        if inv is None:
            failure = Result(failure=Failure(404, "invocation not found"))
            out.follow_ups.append(DeliverCompletion(*ev.caller, failure, ev.now_ms))
            return False
        self._attach_caller(state, ev.invocation_id, inv, ev.caller, ev.now_ms, out)
        return True

    @staticmethod
    def _attach_caller(
        state: PartitionState,
        iid: InvocationId,
        inv: Invocation,
        caller: tuple[InvocationId, int],
        now_ms: int,
        out: Applied,
    ) -> None:
        if inv.status == Status.COMPLETED and inv.result is not None:
            out.follow_ups.append(DeliverCompletion(*caller, inv.result, now_ms))
            return
        stored = (caller[0].to_bytes(), caller[1])
        if stored not in inv.callers:
            inv.callers.append(stored)
            state.put_invocation(iid, inv)

    def _timer_fired(self, state: PartitionState, ev: TimerFired, out: Applied) -> bool:
        timer = ev.timer
        state.remove_timer(timer)
        inv = state.invocation(timer.invocation_id)
        if inv is None:
            return False
        if timer.kind != TimerKind.RETRY and timer.attempt != _generation(inv):
            return False  # a timer of an earlier invocation with the same (purged) id
        if timer.kind == TimerKind.SLEEP:
            done = Result(value=b"")
            return self._notify(
                state,
                timer.invocation_id,
                CompletionNotification(timer.completion_id, done),
                ev.now_ms,
                out,
            )
        if timer.kind == TimerKind.INVOKE:
            if inv.status != Status.SCHEDULED:
                return False
            return self._start_waiting(state, timer.invocation_id, ev.now_ms, out)
        if inv.status != Status.BACKING_OFF or inv.attempt != timer.attempt:
            return False
        inv.next_retry_at_ms = None
        inv.modified_at_ms = ev.now_ms
        _start_new_attempt(timer.invocation_id, inv, out)
        state.put_invocation(timer.invocation_id, inv)
        return True

    # -- lifecycle operations ---------------------------------------------------------------

    def _cancel(self, state: PartitionState, ev: Cancel, out: Applied) -> LookupOutcome:
        iid = ev.invocation_id
        inv = state.invocation(iid)
        if inv is None or inv.status == Status.COMPLETED:
            return _lookup(inv)
        before = _lookup(inv)
        if inv.status in _WAITING_TO_START:
            self._finish(state, iid, inv, Result(failure=CANCELED), ev.now_ms, out)
            return before
        signal = SignalNotification(CANCEL_SIGNAL, CANCELLED_SIGNAL)
        first = self._append(state, iid, inv, [signal], ev.now_ms, out)
        if inv.status == Status.RUNNING:
            out.effects.append(EntriesAppended(iid, inv.attempt, first, [signal]))
        elif inv.status in (Status.SUSPENDED, Status.PAUSED):
            inv.retry_count = 0  # the compensating attempt gets the whole retry policy
            _start_new_attempt(iid, inv, out)  # cancellation resumes it, to compensate
        state.put_invocation(iid, inv)
        return before

    def _kill(
        self, state: PartitionState, iid: InvocationId, now_ms: int, out: Applied
    ) -> LookupOutcome:
        inv = state.invocation(iid)
        if inv is None or inv.status == Status.COMPLETED:
            return _lookup(inv)
        before = _lookup(inv)
        if inv.status == Status.RUNNING:
            out.effects.append(AbortAttempt(iid))
        for child in inv.children:
            out.follow_ups.append(Kill(InvocationId.from_bytes(child), now_ms))
        self._finish(state, iid, inv, Result(failure=KILLED), now_ms, out)
        return before

    def _resume(self, state: PartitionState, ev: ResumeInvocation, out: Applied) -> LookupOutcome:
        inv = state.invocation(ev.invocation_id)
        if inv is None:
            return LookupOutcome(None)
        before = _lookup(inv)
        if inv.status == Status.PAUSED:
            inv.retry_count = 0
            inv.modified_at_ms = ev.now_ms
            _start_new_attempt(ev.invocation_id, inv, out)
            state.put_invocation(ev.invocation_id, inv)
        return before

    def _recover(self, state: PartitionState, ev: RecoverInvocation, out: Applied) -> bool:
        inv = state.invocation(ev.invocation_id)
        if inv is None or inv.status != Status.RUNNING:
            return False
        _start_new_attempt(ev.invocation_id, inv, out)
        state.put_invocation(ev.invocation_id, inv)
        return True

    def _purge_one(self, state: PartitionState, ev: Purge) -> LookupOutcome:
        inv = state.invocation(ev.invocation_id)
        before = _lookup(inv)
        if inv is not None and inv.status == Status.COMPLETED:
            _delete(state, ev.invocation_id, inv)
        return before

    def _purge_expired(self, state: PartitionState, ev: PurgeExpired) -> bool:
        for iid in ev.invocation_ids:
            inv = state.invocation(iid)
            if inv is not None and inv.expires_at_ms is not None and inv.expires_at_ms <= ev.now_ms:
                _delete(state, iid, inv)
        return True

    # -- the end ----------------------------------------------------------------------------

    def _finish(
        self,
        state: PartitionState,
        iid: InvocationId,
        inv: Invocation,
        result: Result,
        now_ms: int,
        out: Applied,
    ) -> None:
        if inv.status == Status.INBOXED:
            keyed.leave_inbox(state, inv)
        state.append(iid, inv.journal_length, OutputCommand(result))
        inv.journal_length += 1
        inv.status = Status.COMPLETED
        inv.result = result
        inv.waiting = None
        inv.next_retry_at_ms = None
        inv.modified_at_ms = now_ms
        inv.completed_at_ms = now_ms
        inv.expires_at_ms = now_ms + inv.retention_ms
        for caller, completion_id in inv.callers:
            caller_id = InvocationId.from_bytes(caller)
            out.follow_ups.append(DeliverCompletion(caller_id, completion_id, result, now_ms))
        inv.callers = []
        if inv.awakeables != 0 or inv.kind.is_workflow:
            state.close_waits(iid)
        # Also an inbox head that was handed the lock but ended before it started.
        keyed.release(state, iid, inv, now_ms, out)
        state.put_invocation(iid, inv)
        out.effects.append(InvocationFinished(iid, result, inv.expires_at_ms))


def _generation(inv: Invocation) -> int:
    """Tells apart invocations that reuse an id after a purge (fences their timers)."""
    return inv.created_at_ms


def _complete_promise(state: PartitionState, ev: CompletePromise, out: Applied) -> SignalOutcome:
    """Complete an awaited promise from outside: applied, or what it was completed with."""
    key = (ev.service, ev.key, ev.name)
    record = state.promise(key)
    if record is None:
        return SignalOutcome(Delivery.UNKNOWN)  # nobody awaits it: no such promise to complete
    if record.result is not None:
        same = record.result == ev.result
        return SignalOutcome(Delivery.DUPLICATE if same else Delivery.CONFLICT)
    commands.complete_promise(state, key, ev.result, ev.now_ms, out)
    return SignalOutcome(Delivery.APPLIED, ev.now_ms)


def _index_deadline(
    state: PartitionState, iid: InvocationId, inv: Invocation, waiting: Waiting
) -> None:
    """Give the waits a suspension waits on the deadline of a timer they race (or none)."""
    signals = tuple(s for s in waiting.signal_indexes if s >= FIRST_AWAKEABLE_SIGNAL)
    if signals or (inv.kind.is_workflow and waiting.completion_ids):
        deadline = deadline_of(inv, waiting)
        state.set_deadline(iid, signals, waiting.completion_ids, deadline)


def _lookup(inv: Invocation | None) -> LookupOutcome:
    if inv is None:
        return LookupOutcome(None)
    return LookupOutcome(inv.status, inv.result, inv.expires_at_ms)


def _start_new_attempt(iid: InvocationId, inv: Invocation, out: Applied) -> None:
    inv.status = Status.RUNNING
    inv.waiting = None
    inv.attempt += 1
    out.effects.append(StartAttempt(iid, inv.attempt, inv.target, None, inv.idempotency_key))


def _delete(state: PartitionState, iid: InvocationId, inv: Invocation) -> None:
    state.delete_invocation(iid)
    if inv.kind == HandlerKind.WORKFLOW and inv.target.key is not None:
        # The workflow's retention ends with its run: its state and promises go with it.
        key = (inv.target.service, inv.target.key)
        state.clear_state(key)
        state.clear_promises(key)
