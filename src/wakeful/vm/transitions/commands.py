"""Command transitions: every context call takes the next journal position, at the call site."""

from __future__ import annotations

from wakeful.errors import JournalMismatchError, ProtocolViolationError
from wakeful.journal.entries import CompletionNotification, Entry, Result, describe
from wakeful.vm.core import MachineCore, Slot, State
from wakeful.vm.diff import differences

__all__ = ["CommandTransitions"]


class CommandTransitions(MachineCore):
    """Positions, replay checks, steps in flight and the outbox."""

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
