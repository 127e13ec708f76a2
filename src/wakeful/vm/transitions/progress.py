"""Progress transitions: what an awaiting handler should do now, and suspension."""

from __future__ import annotations

import enum

from wakeful.engine.model import Waiting
from wakeful.journal.ids import CANCEL_SIGNAL
from wakeful.vm.core import State
from wakeful.vm.handles import Await, Handle, signal_handle
from wakeful.vm.transitions.notifications import NotificationTransitions

__all__ = ["Progress", "ProgressTransitions"]


class Progress(enum.Enum):
    """The answer of `do_progress`: what the awaiting handler should do now."""

    READY = "ready"  # the awaited handles are completed
    CANCELLED = "cancelled"  # the invocation was cancelled: raise TerminalError(409) once
    FLUSH = "flush"  # send the outbox, then ask again
    WAIT_OWN = "wait_own"  # wait (no timeout) for own work in flight: a step, a flush, a load
    WAIT_EXTERNAL = "wait_external"  # wait up to the inactivity timeout for a notification
    SUSPEND = "suspend"  # nothing can unblock the await in this attempt: `waiting` is set


_CANCEL = signal_handle(CANCEL_SIGNAL)


class ProgressTransitions(NotificationTransitions):
    """Awaits: consume notifications until satisfied, or say why the handler cannot go on."""

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
        # Named signals (str handles) have no place in `Waiting` yet: the engine records
        # completion ids and signal indexes only.
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
