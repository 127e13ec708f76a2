"""The invocation lifecycle as a pure state machine: `apply(state, event) -> Applied`.

```
            Invoke
              │
              ▼          AttemptSuspended            DeliverSignal / completion
  ┌──────► RUNNING ───────────────────────► SUSPENDED ───────────────┐
  │           │ │                                                    │
  │           │ └── AttemptFailed ──► BACKING_OFF ── TimerFired ─────┤
  │           │          │                                           │
  │           │          └─ retries exhausted ─► PAUSED ── Resume ───┤
  │           ▼                                                      │
  │       COMPLETED ── retention expires ──► (purged)                │
  └──────────────────────────────────────────────────────────────────┘
```

Every attempt has a number; events from an attempt that is no longer the current one are
ignored (fencing), so a stale attempt can never write to a journal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wakeful.engine.effects import (
    Effect,
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
from wakeful.engine.model import Invocation, RetryPolicy, Status, Target, Timer, TimerKind
from wakeful.engine.state import PartitionState
from wakeful.errors import InvalidIdError
from wakeful.journal.entries import (
    CompleteAwakeableCommand,
    Entry,
    InputCommand,
    OutputCommand,
    Result,
    SignalNotification,
)
from wakeful.journal.ids import InvocationId, parse_awakeable_id

__all__ = ["Applied", "Engine", "EngineConfig"]

DAY_MS = 24 * 60 * 60 * 1000

# Statuses in which an invocation still accepts notifications (Restate: invoked, suspended, paused).
_ALIVE = frozenset({Status.RUNNING, Status.SUSPENDED, Status.BACKING_OFF, Status.PAUSED})


def _default_policy(_: Target) -> RetryPolicy:
    return RetryPolicy()


def _default_retention(_: Target) -> int:
    return DAY_MS


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Per-target settings the engine consults (resolved by the runtime from the app)."""

    retry_policy: Callable[[Target], RetryPolicy] = _default_policy
    completion_retention_ms: Callable[[Target], int] = _default_retention


@dataclass(slots=True)
class Applied:
    """What applying one event produced."""

    outcome: InvokeOutcome | LookupOutcome | bool | None = None
    effects: list[Effect] = field(default_factory=list)
    follow_ups: list[Event] = field(default_factory=list)


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
                out.outcome = (
                    LookupOutcome(inv.status, inv.result, inv.expires_at_ms)
                    if inv
                    else LookupOutcome(None)
                )
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
            case TimerFired():
                out.outcome = self._timer_fired(state, event, out)
            case ResumeInvocation():
                out.outcome = self._resume(state, event, out)
            case RecoverInvocation():
                out.outcome = self._recover(state, event, out)
            case PurgeExpired():
                out.outcome = self._purge(state, event)
        return out

    # -- creation -------------------------------------------------------------------------

    def _invoke(self, state: PartitionState, ev: Invoke, out: Applied) -> InvokeOutcome:
        existing = state.invocation(ev.invocation_id)
        if existing is not None:
            return InvokeOutcome(
                ev.invocation_id, False, existing.status, existing.result, existing.expires_at_ms
            )
        inv = Invocation(
            target=ev.target,
            status=Status.RUNNING,
            created_at_ms=ev.now_ms,
            modified_at_ms=ev.now_ms,
            journal_length=1,
            attempt=1,
            idempotency_key=ev.idempotency_key,
            retention_ms=self.config.completion_retention_ms(ev.target),
        )
        input_command = InputCommand(ev.headers, ev.input)
        state.put_invocation(ev.invocation_id, inv)
        state.append(ev.invocation_id, 0, input_command)
        out.effects.append(
            StartAttempt(ev.invocation_id, 1, ev.target, [input_command], ev.idempotency_key)
        )
        return InvokeOutcome(ev.invocation_id, True, Status.RUNNING)

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
            if isinstance(entry, CompleteAwakeableCommand):
                signal = _signal_for(entry, now_ms)
                if signal is not None:
                    out.follow_ups.append(signal)
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
            self._start_new_attempt(ev.invocation_id, inv, out)
        else:
            inv.status = Status.SUSPENDED
            inv.waiting = ev.waiting
        state.put_invocation(ev.invocation_id, inv)
        return True

    def _complete_attempt(self, state: PartitionState, ev: AttemptCompleted, out: Applied) -> bool:
        inv = self._current(state, ev.invocation_id, ev.attempt)
        if inv is None:
            return False
        entries = [*ev.entries, OutputCommand(ev.result)]
        self._append(state, ev.invocation_id, inv, entries, ev.now_ms, out)
        self._finish(ev.invocation_id, inv, ev.result, ev.now_ms, out)
        state.put_invocation(ev.invocation_id, inv)
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
                result = Result(failure=ev.failure)
                self._append(state, ev.invocation_id, inv, [OutputCommand(result)], ev.now_ms, out)
                self._finish(ev.invocation_id, inv, result, ev.now_ms, out)
            else:
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

    def _deliver_signal(self, state: PartitionState, ev: DeliverSignal, out: Applied) -> bool:
        inv = state.invocation(ev.invocation_id)
        if inv is None or inv.status not in _ALIVE:
            return False  # unknown or finished: dropped, as Restate does
        notification = SignalNotification(ev.index, ev.result)
        first = self._append(state, ev.invocation_id, inv, [notification], ev.now_ms, out)
        if inv.status == Status.RUNNING:
            out.effects.append(
                EntriesAppended(ev.invocation_id, inv.attempt, first, [notification])
            )
        elif (
            inv.status == Status.SUSPENDED
            and inv.waiting is not None
            and inv.waiting.wakes_on_signal(ev.index)
        ):
            self._start_new_attempt(ev.invocation_id, inv, out)
        state.put_invocation(ev.invocation_id, inv)
        return True

    def _timer_fired(self, state: PartitionState, ev: TimerFired, out: Applied) -> bool:
        timer = ev.timer
        state.remove_timer(timer)
        inv = state.invocation(timer.invocation_id)
        if (
            inv is None
            or inv.status != Status.BACKING_OFF
            or inv.attempt != timer.attempt
            or timer.kind != TimerKind.RETRY
        ):
            return False
        inv.next_retry_at_ms = None
        inv.modified_at_ms = ev.now_ms
        self._start_new_attempt(timer.invocation_id, inv, out)
        state.put_invocation(timer.invocation_id, inv)
        return True

    # -- lifecycle operations ---------------------------------------------------------------

    def _resume(self, state: PartitionState, ev: ResumeInvocation, out: Applied) -> LookupOutcome:
        inv = state.invocation(ev.invocation_id)
        if inv is None:
            return LookupOutcome(None)
        before = inv.status
        if before == Status.PAUSED:
            inv.retry_count = 0
            inv.modified_at_ms = ev.now_ms
            self._start_new_attempt(ev.invocation_id, inv, out)
            state.put_invocation(ev.invocation_id, inv)
        return LookupOutcome(before, inv.result)

    def _recover(self, state: PartitionState, ev: RecoverInvocation, out: Applied) -> bool:
        inv = state.invocation(ev.invocation_id)
        if inv is None or inv.status not in (Status.RUNNING, Status.PENDING):
            return False
        self._start_new_attempt(ev.invocation_id, inv, out)
        state.put_invocation(ev.invocation_id, inv)
        return True

    def _purge(self, state: PartitionState, ev: PurgeExpired) -> bool:
        for iid in ev.invocation_ids:
            inv = state.invocation(iid)
            if inv is not None and inv.expires_at_ms is not None and inv.expires_at_ms <= ev.now_ms:
                state.delete_invocation(iid)
        return True

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _start_new_attempt(iid: InvocationId, inv: Invocation, out: Applied) -> None:
        inv.status = Status.RUNNING
        inv.waiting = None
        inv.attempt += 1
        out.effects.append(StartAttempt(iid, inv.attempt, inv.target, None, inv.idempotency_key))

    @staticmethod
    def _finish(
        iid: InvocationId, inv: Invocation, result: Result, now_ms: int, out: Applied
    ) -> None:
        inv.status = Status.COMPLETED
        inv.result = result
        inv.waiting = None
        inv.next_retry_at_ms = None
        inv.completed_at_ms = now_ms
        inv.expires_at_ms = now_ms + inv.retention_ms
        out.effects.append(InvocationFinished(iid, result, inv.expires_at_ms))


def _signal_for(command: CompleteAwakeableCommand, now_ms: int) -> DeliverSignal | None:
    try:
        ref = parse_awakeable_id(command.awakeable_id)
    except InvalidIdError:
        return None  # the SDK validates ids when the command is made; never fail a batch on one
    return DeliverSignal(ref.invocation_id, ref.index, command.result, now_ms)
