"""The state the engine reads and writes, as a narrow protocol, with an in-memory implementation."""

from __future__ import annotations

from typing import Protocol

from wakeful.engine.model import Invocation, Timer
from wakeful.journal.entries import Entry
from wakeful.journal.ids import InvocationId

__all__ = ["MemoryState", "PartitionState"]


class PartitionState(Protocol):
    """One partition's state as the engine sees it while applying an event."""

    def invocation(self, invocation_id: InvocationId) -> Invocation | None:
        """The invocation record, or None if unknown."""

    def put_invocation(self, invocation_id: InvocationId, invocation: Invocation) -> None:
        """Create or replace an invocation record."""

    def append(self, invocation_id: InvocationId, index: int, entry: Entry) -> None:
        """Append `entry` at `index` of the invocation's journal."""

    def add_timer(self, timer: Timer) -> None:
        """Store a durable timer."""

    def remove_timer(self, timer: Timer) -> None:
        """Delete a durable timer (no error if absent)."""

    def delete_invocation(self, invocation_id: InvocationId) -> None:
        """Delete an invocation with its journal."""


class MemoryState:
    """PartitionState in plain dicts: the engine's unit tests run against it."""

    def __init__(self) -> None:
        self.invocations: dict[InvocationId, Invocation] = {}
        self.journals: dict[InvocationId, list[Entry]] = {}
        self.timers: set[Timer] = set()

    def invocation(self, invocation_id: InvocationId) -> Invocation | None:
        return self.invocations.get(invocation_id)

    def put_invocation(self, invocation_id: InvocationId, invocation: Invocation) -> None:
        self.invocations[invocation_id] = invocation

    def append(self, invocation_id: InvocationId, index: int, entry: Entry) -> None:
        journal = self.journals.setdefault(invocation_id, [])
        if index != len(journal):
            raise AssertionError(f"journal gap: appending index {index} to {len(journal)} entries")
        journal.append(entry)

    def add_timer(self, timer: Timer) -> None:
        self.timers.add(timer)

    def remove_timer(self, timer: Timer) -> None:
        self.timers.discard(timer)

    def delete_invocation(self, invocation_id: InvocationId) -> None:
        self.invocations.pop(invocation_id, None)
        self.journals.pop(invocation_id, None)
