"""The replay machine of one attempt: an explicit state machine that does no I/O.

```
WaitingStart --start(journal)--> Replaying --last recorded command taken--> Processing
     any state --end / suspend / a failure--> Closed
```

- **Commands** (`command`, `command_deferred`/`fill`, `propose_completion`): each context call
  takes the next command position at once, at the call site. While positions are within the
  recorded journal the machine is *Replaying*: the command is compared field by field with the
  recorded one (`vm.diff`) and the recorded one is returned (it carries the values computed then:
  a wake-up time, a callee id, a state value read). Past it the machine is *Processing*: the
  command is new and goes to the outbox. A command whose value is not known yet (a state read
  waiting for the shared state load) holds its position with a `Slot` filled later; the outbox
  is only sent up to the first unfilled slot, so positions never move.
- **Notifications** (`notify`, consumed by `do_progress`): completions and signals, consumed one
  at a time in journal order and only while the handler awaits something not yet available:
  first the recorded ones, then those the engine appends while the attempt runs. A live attempt
  and its replays thus see the same sequence, which keeps combinators deterministic.
- **Progress** (`do_progress`): what an await should do now: go on, raise the cancellation,
  flush and wait, wait for the attempt's own work in flight, or suspend.
- **Errors latch**: a journal mismatch, a protocol violation or a failed step moves the machine to
  Closed with `failure` set; every later call raises that failure again, so a handler that
  swallows it with `except` cannot complete, and the invoker reports it as the attempt's failure.
  A suspension latches the same way (`waiting` is set).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable

from wakeful.engine.model import Waiting
from wakeful.errors import (
    AttemptAbortedException,
    JournalMismatchError,
    ProtocolViolationError,
    SuspendedException,
    VMError,
)
from wakeful.journal.entries import (
    NOTIFICATION_TYPES,
    Command,
    CompletionNotification,
    Entry,
    InputCommand,
    Notification,
    OutputCommand,
    Result,
    describe,
)
from wakeful.journal.ids import CANCEL_SIGNAL, FIRST_AWAKEABLE_SIGNAL
from wakeful.vm.diff import differences
from wakeful.vm.handles import Await, Handle, handle_of, signal_handle

__all__ = ["Progress", "ReplayMachine", "Slot", "State"]


class State(enum.Enum):
    """Where the attempt is in its journal."""

    WAITING_START = "WaitingStart"
    REPLAYING = "Replaying"
    PROCESSING = "Processing"
    CLOSED = "Closed"


class Progress(enum.Enum):
    """The answer of `do_progress`: what the awaiting handler should do now."""

    READY = "ready"  # the awaited handles are completed
    CANCELLED = "cancelled"  # the invocation was cancelled: raise TerminalError(409) once
    FLUSH = "flush"  # send the outbox, then ask again
    WAIT_OWN = "wait_own"  # wait (no timeout) for own work in flight: a step, a flush, a load
    WAIT_EXTERNAL = "wait_external"  # wait up to the inactivity timeout for a notification
    SUSPEND = "suspend"  # nothing can unblock the await in this attempt: `waiting` is set


class Slot:
    """A command position taken before the command's value is known."""

    __slots__ = ("entry", "template")

    def __init__(self, template: Entry) -> None:
        self.template = template
        self.entry: Entry | None = None


_CANCEL = signal_handle(CANCEL_SIGNAL)


class ReplayMachine:
    """Replay and live state of one attempt of one invocation."""

    def __init__(self, handler_label: str, invocation_id: str = "") -> None:
        self.handler_label = handler_label
        self.invocation_id = invocation_id
        self.state = State.WAITING_START
        self.failure: BaseException | None = None  # latched: raised by every later call
        self.waiting: Waiting | None = None  # set when the attempt suspended
        self.recorded: list[Command] = []  # the recorded commands; index 0 is the input
        self.input = InputCommand([], b"")
        self.recorded_completions: set[int] = set()
        self.results: dict[Handle, Result] = {}  # in consumption order: combinators rank by it
        self.cancelled = False  # the CANCEL signal was raised into the handler
        self.seen_length = 0  # journal entries this attempt has consumed or skipped
        self._replay: deque[Notification] = deque()
        self._command_index = 1
        self._next_completion_id = 1
        self._next_signal_index = FIRST_AWAKEABLE_SIGNAL
        self._outbox: list[Entry | Slot] = []
        self._unfilled = 0  # slots in the outbox still waiting for their value
        self._expected_length = 0  # journal length once the flushed entries come back
        self._live: dict[int, Entry] = {}  # entries delivered, by journal index
        self._running: set[int] = set()  # completion ids of steps executing now

    # -- start ---------------------------------------------------------------------------

    def start(self, journal: list[Entry]) -> None:
        """WaitingStart -> Replaying (or Processing when only the input is recorded)."""
        self._check(State.WAITING_START, "start")
        recorded: list[Command] = [e for e in journal if not isinstance(e, NOTIFICATION_TYPES)]
        if not recorded or not isinstance(recorded[0], InputCommand):
            raise self._latch(ProtocolViolationError("a journal starts with its input command"))
        self.recorded, self.input = recorded, recorded[0]
        self._replay = deque(e for e in journal if isinstance(e, NOTIFICATION_TYPES))
        self.recorded_completions = {
            e.completion_id for e in self._replay if isinstance(e, CompletionNotification)
        }
        self.seen_length = self._expected_length = len(journal)
        self.state = State.REPLAYING if len(recorded) > 1 else State.PROCESSING

    @property
    def replaying(self) -> bool:
        """True while commands are still matched against the recorded journal."""
        return self.state is State.REPLAYING

    # -- allocation ----------------------------------------------------------------------

    def allocate_completion_id(self) -> int:
        """A fresh completion id (deterministic: the n-th one is n)."""
        cid = self._next_completion_id
        self._next_completion_id += 1
        return cid

    def allocate_signal_index(self) -> int:
        """A fresh awakeable signal index (17, 18, ...)."""
        index = self._next_signal_index
        self._next_signal_index += 1
        return index

    @property
    def next_command_index(self) -> int:
        """The position the next command will take."""
        return self._command_index

    # -- commands ------------------------------------------------------------------------

    def command(self, command: Entry) -> Entry | None:
        """Take the next position: the recorded command when replaying, None when it is new."""
        recorded = self._take(command)
        if recorded is None:
            self._outbox.append(command)
        return recorded

    def command_deferred(self, template: Entry) -> Entry | Slot:
        """Take the next position for a command whose value comes later (see `fill`).

        Replaying, the recorded command is returned (it has the value); processing, a `Slot`.
        """
        recorded = self._take(template)
        if recorded is not None:
            return recorded
        slot = Slot(template)
        self._outbox.append(slot)
        self._unfilled += 1
        return slot

    def fill(self, slot: Slot, command: Entry) -> None:
        """Give a slot its command, once its value is known."""
        if self.failure is not None or slot.entry is not None:
            return  # the attempt failed meanwhile, or a second fill: nothing to journal
        if differences(slot.template, command):
            raise self._latch(
                ProtocolViolationError(
                    f"slot for {describe(slot.template)} filled with {describe(command)}"
                )
            )
        slot.entry = command
        self._unfilled -= 1

    def _take(self, command: Entry) -> Entry | None:
        state = self.state
        if state is State.PROCESSING:
            self._command_index += 1
            return None
        if state is not State.REPLAYING:
            self._check(State.REPLAYING, describe(command))
        index = self._command_index
        recorded = self.recorded[index]
        diff = differences(recorded, command)
        if diff:
            raise self._latch(
                JournalMismatchError(
                    self.handler_label,
                    index,
                    describe(recorded),
                    describe(command),
                    self.invocation_id,
                    tuple(diff),
                )
            )
        self._command_index = index + 1
        if index + 1 == len(self.recorded):
            self.state = State.PROCESSING
        return recorded

    # -- steps (ctx.run) -----------------------------------------------------------------

    def step_started(self, completion_id: int) -> None:
        """A step began executing: the attempt does not suspend until its result is durable."""
        self._running.add(completion_id)

    def propose_completion(self, completion_id: int, result: Result) -> None:
        """Journal the result of one of this attempt's own steps."""
        self._running.discard(completion_id)
        if self.failure is None and self.state is not State.CLOSED:
            self._outbox.append(CompletionNotification(completion_id, result))

    def step_abandoned(self, completion_id: int) -> None:
        """A step stopped without a result (its failure is reported through `fail`)."""
        self._running.discard(completion_id)

    # -- outbox --------------------------------------------------------------------------

    def take_output(self) -> list[Entry]:
        """The entries to journal now: the outbox up to its first unfilled slot."""
        ready: list[Entry] = []
        outbox = self._outbox
        for item in outbox:
            if isinstance(item, Slot):
                if item.entry is None:
                    break
                ready.append(item.entry)
            else:
                ready.append(item)
        del outbox[: len(ready)]
        self._expected_length += len(ready)
        return ready

    # -- notifications -------------------------------------------------------------------

    def notify(self, first_index: int, entries: Iterable[Entry]) -> None:
        """Entries the engine appended (durable) to this journal while the attempt runs."""
        for offset, entry in enumerate(entries):
            index = first_index + offset
            if index >= self.seen_length:
                self._live[index] = entry

    @property
    def can_consume(self) -> bool:
        """True when a delivered entry is waiting to be consumed (or the attempt failed)."""
        return self.seen_length in self._live or self.failure is not None

    def _consume_one(self) -> bool:
        if self._replay:
            notification = self._replay.popleft()
        else:
            entry = self._live.pop(self.seen_length, None)
            if entry is None:
                return False
            self.seen_length += 1
            if not isinstance(entry, NOTIFICATION_TYPES):
                return True  # one of this attempt's own commands coming back
            notification = entry
        # The first completion wins; a later one for the same handle changes nothing.
        self.results.setdefault(handle_of(notification), notification.result)
        return True

    # -- progress ------------------------------------------------------------------------

    def do_progress(self, handles: list[Handle], mode: Await, may_wait: bool) -> Progress:
        """Consume notifications until `handles` are done (any/all), or say why it cannot.

        `may_wait` is False when the attempt must not wait for other parties any longer (its
        inactivity timeout is 0 or has passed): then it suspends instead.
        """
        while True:
            if self.failure is not None:
                raise self.failure
            if self.state is State.CLOSED or self.state is State.WAITING_START:
                self._check(State.PROCESSING, "await")
            if not self.cancelled and _CANCEL in self.results:
                if self._in_flight:
                    if not self._consume_one():  # a step in flight completes first
                        return Progress.WAIT_OWN
                    continue
                self.cancelled = True  # raised once; compensations may await afterwards
                return Progress.CANCELLED
            if self._satisfied(handles, mode):
                return Progress.READY
            if self._consume_one():
                continue
            if self._in_flight:
                return Progress.WAIT_OWN
            if not may_wait:
                self._suspend(handles, mode)
                return Progress.SUSPEND
            if self._outbox:
                return Progress.FLUSH
            return Progress.WAIT_EXTERNAL

    @property
    def _in_flight(self) -> bool:
        return bool(self._running or self._unfilled) or self.seen_length < self._expected_length

    def _satisfied(self, handles: list[Handle], mode: Await) -> bool:
        results = self.results
        if mode is Await.ANY:
            return any(h in results for h in handles)
        return all(h in results for h in handles)

    def _suspend(self, handles: list[Handle], mode: Await) -> None:
        if mode is Await.ALL:  # wake only once the last missing one arrives
            handles = [h for h in handles if h not in self.results]
        ints = [h for h in handles if isinstance(h, int)]
        signals = {-h for h in ints if h < 0}
        if not self.cancelled:
            signals.add(CANCEL_SIGNAL)  # a cancellation must always be able to wake it
        self.waiting = Waiting(
            completion_ids=tuple(sorted(h for h in ints if h > 0)),
            signal_indexes=tuple(sorted(signals)),
            all_of=mode is Await.ALL,
        )
        self.state = State.CLOSED

    # -- end -----------------------------------------------------------------------------

    def end(self, result: Result) -> None:
        """The handler returned `result` (a value or a terminal failure): -> Closed.

        Returning while recorded commands remain is a mismatch: the journal says the handler
        did more than this code does.
        """
        if self.failure is not None:
            raise self.failure
        if self.waiting is not None:
            raise SuspendedException()
        if self.state is State.REPLAYING:
            self._take(OutputCommand(result))
        self.state = State.CLOSED

    def fail(self, error: BaseException) -> None:
        """Fail the attempt (e.g. a step that must not be retried failed): latched."""
        if self.failure is None:
            self._latch(error)

    @property
    def vm_failure(self) -> VMError | None:
        """The latched failure when the machine itself failed the attempt (570, 571)."""
        return self.failure if isinstance(self.failure, VMError) else None

    def _latch(self, error: BaseException) -> BaseException:
        if self.failure is None:
            self.failure = error
            if isinstance(error, VMError):  # a diverged attempt journals nothing more
                self._outbox.clear()
                self._unfilled = 0
        self.state = State.CLOSED
        return self.failure

    def _check(self, expected: State, event: str) -> None:
        if self.state is expected:
            return
        if self.failure is not None:
            raise self.failure
        if self.waiting is not None:
            raise SuspendedException()  # the handler swallowed the suspension: stop it again
        if self.state is State.CLOSED:
            raise AttemptAbortedException()  # the context is used after the attempt ended
        raise self._latch(
            ProtocolViolationError(f"unexpected {event!r} in state {self.state.value}")
        )
