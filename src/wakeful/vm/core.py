"""The state every transition family of the replay machine works on, and its one error door.

`MachineCore` holds the attempt's journal position, outbox, results and latched failure;
`_latch` is the single place a failure is recorded (and `_check` the single place a call in the
wrong state is refused), so that whichever family fails, the failure sticks.
"""

from __future__ import annotations

import enum
from collections import deque

from wakeful.engine.model import Waiting
from wakeful.errors import (
    AttemptAbortedException,
    ProtocolViolationError,
    SuspendedException,
    VMError,
)
from wakeful.journal.entries import Command, Entry, InputCommand, Notification, Result
from wakeful.journal.ids import FIRST_AWAKEABLE_SIGNAL
from wakeful.vm.handles import Handle

__all__ = ["MachineCore", "Slot", "State"]


class State(enum.Enum):
    """Where the attempt is in its journal."""

    WAITING_START = "WaitingStart"
    REPLAYING = "Replaying"
    PROCESSING = "Processing"
    CLOSED = "Closed"


class Slot:
    """A command position taken before the command's value is known."""

    __slots__ = ("entry", "template")

    def __init__(self, template: Entry) -> None:
        self.template = template
        self.entry: Entry | None = None


class MachineCore:
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

    @property
    def replaying(self) -> bool:
        """True while commands are still matched against the recorded journal."""
        return self.state is State.REPLAYING

    @property
    def vm_failure(self) -> VMError | None:
        """The latched failure when the machine itself failed the attempt (570, 571)."""
        return self.failure if isinstance(self.failure, VMError) else None

    def _latch(self, error: BaseException) -> BaseException:
        # The one door of every failure: recorded once, then raised again by every later call.
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
