"""Lifecycle transitions: start from a journal, end with the handler's result, fail."""

from __future__ import annotations

from collections import deque

from wakeful.errors import ProtocolViolationError, SuspendedException
from wakeful.journal.entries import (
    NOTIFICATION_TYPES,
    Command,
    CompletionNotification,
    Entry,
    InputCommand,
    OutputCommand,
    Result,
)
from wakeful.vm.core import State
from wakeful.vm.transitions.commands import CommandTransitions

__all__ = ["LifecycleTransitions"]


class LifecycleTransitions(CommandTransitions):
    """WaitingStart -> Replaying/Processing, and -> Closed."""

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
