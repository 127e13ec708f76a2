"""Notification transitions: delivered entries, consumed one at a time in journal order."""

from __future__ import annotations

from collections.abc import Iterable

from wakeful.journal.entries import NOTIFICATION_TYPES, Entry
from wakeful.vm.core import MachineCore
from wakeful.vm.handles import handle_of

__all__ = ["NotificationTransitions"]


class NotificationTransitions(MachineCore):
    """Delivered entries, and the results they complete."""

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
