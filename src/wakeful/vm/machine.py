"""The replay machine of one attempt.

It starts from the journal as stored and runs alongside the handler:

- every context call that makes a command gets the next command position; while positions are
  within the recorded journal the command is checked against the recorded one (kind and name)
  and a mismatch raises `JournalMismatchError`; past it, the command is new and is buffered;
- notifications (completions, signals) are consumed one at a time, in journal order, only while
  the handler awaits something not yet available: first from the recorded journal, then from the
  entries the engine appends while the attempt runs (`deliver`). Live and replayed executions thus
  see the same sequence, which keeps combinators deterministic;
- when nothing can be consumed, buffered commands are flushed and the machine waits for new
  entries up to the inactivity timeout, then suspends (raises `SuspendedException`). It never
  suspends while one of its own steps is executing or not yet durable.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Iterable

from wakeful.engine.model import Waiting
from wakeful.errors import JournalMismatchError, SuspendedException, TerminalError
from wakeful.journal.entries import (
    NOTIFICATION_TYPES,
    CallCommand,
    CompleteAwakeableCommand,
    CompletionNotification,
    Entry,
    InputCommand,
    Notification,
    OneWayCallCommand,
    Result,
    RunCommand,
    SignalNotification,
    describe,
)
from wakeful.journal.ids import CANCEL_SIGNAL, FIRST_AWAKEABLE_SIGNAL

__all__ = ["AttemptMachine", "Await", "Handle", "completion_handle", "signal_handle"]


class Await(enum.Enum):
    """How a set of handles unblocks an await."""

    ANY = "any"
    ALL = "all"


# A handle names what a future waits for: completion ids are positive, signal indexes negative,
# named signals are their name.
Handle = int | str


def completion_handle(completion_id: int) -> int:
    """The handle of completion `completion_id`."""
    return completion_id


def signal_handle(index: int) -> int:
    """The handle of signal `index`."""
    return -index


class AttemptMachine:
    """Replay and live state of one attempt of one invocation."""

    def __init__(
        self,
        *,
        handler_label: str,
        journal: list[Entry],
        flush: Callable[[list[Entry]], None],
        inactivity_timeout: float,
        invocation_id: str = "",
    ) -> None:
        self.handler_label = handler_label
        self.invocation_id = invocation_id
        self.inactivity_timeout = inactivity_timeout
        self._flush_entries = flush
        self.recorded: list[Entry] = [e for e in journal if not isinstance(e, NOTIFICATION_TYPES)]
        first = self.recorded[0] if self.recorded else None
        if not isinstance(first, InputCommand):
            raise ValueError("a journal starts with its input command")
        self.input: InputCommand = first
        self._replay: deque[Notification] = deque(
            e for e in journal if isinstance(e, NOTIFICATION_TYPES)
        )
        self.recorded_completions: set[int] = {
            e.completion_id for e in self._replay if isinstance(e, CompletionNotification)
        }
        self._command_index = 1
        self._next_completion_id = 1
        self._next_signal_index = FIRST_AWAKEABLE_SIGNAL
        self.results: dict[Handle, Result] = {}
        self.pending: list[Entry] = []
        self.seen_length = len(journal)  # journal entries this attempt knows of
        self._expected_length = len(journal)  # ... once its own flushed entries come back
        self._live: dict[int, Entry] = {}
        self._live_waiter: asyncio.Future[bool] | None = None  # set while waiting for entries
        self.steps_executing = 0
        self.failure: BaseException | None = None
        self.waiting: Waiting | None = None
        self.cancelled = False  # the CANCEL signal was raised into the handler
        self.on_cancel: Callable[[], None] | None = None

    # -- allocation ---------------------------------------------------------------------

    def allocate_completion_id(self) -> int:
        """A fresh completion id (deterministic: the n-th call gets n)."""
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

    @property
    def replaying(self) -> bool:
        """True while commands are still being matched against the recorded journal."""
        return self._command_index < len(self.recorded)

    # -- commands -----------------------------------------------------------------------

    def command(self, command: Entry) -> Entry | None:
        """Take the next command position: the recorded command on replay, None if it is new.

        A replay uses the recorded command's values (a sleep's wake-up time, a callee's id)
        rather than the ones computed again.
        """
        index = self._command_index
        self._command_index += 1
        if index < len(self.recorded):
            recorded = self.recorded[index]
            if not _same_command(recorded, command):
                raise JournalMismatchError(
                    self.handler_label,
                    index,
                    describe(recorded),
                    describe(command),
                    self.invocation_id,
                )
            return recorded
        self.pending.append(command)
        return None

    def propose_completion(self, completion_id: int, result: Result) -> None:
        """Journal the result of one of this attempt's own steps, and make it durable."""
        self.pending.append(CompletionNotification(completion_id, result))
        self.flush()

    def flush(self) -> None:
        """Send buffered entries to the engine; they come back through `deliver` once durable."""
        if self.pending:
            entries, self.pending = self.pending, []
            self._expected_length += len(entries)
            self._flush_entries(entries)

    # -- notifications ------------------------------------------------------------------

    def deliver(self, first_index: int, entries: Iterable[Entry]) -> None:
        """Entries the engine appended to this journal (durable) while the attempt runs."""
        for offset, entry in enumerate(entries):
            self._live[first_index + offset] = entry
        self._wake()

    def fail(self, error: BaseException) -> None:
        """Fail the attempt from outside the handler (e.g. a step that must not be retried)."""
        if self.failure is None:
            self.failure = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._live_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _record(self, notification: Notification) -> None:
        handle: Handle
        if isinstance(notification, CompletionNotification):
            handle = completion_handle(notification.completion_id)
        elif notification.name is not None:
            handle = notification.name
        else:
            handle = signal_handle(notification.index)
        # The first completion wins; a later one for the same handle changes nothing.
        self.results.setdefault(handle, notification.result)

    def _consume_one(self) -> bool:
        if self._replay:
            self._record(self._replay.popleft())
            return True
        entry = self._live.pop(self.seen_length, None)
        if entry is None:
            return False
        self.seen_length += 1
        if isinstance(entry, CompletionNotification | SignalNotification):
            self._record(entry)
        return True

    def _satisfied(self, handles: list[Handle], mode: Await) -> bool:
        if mode is Await.ANY:
            return any(h in self.results for h in handles)
        return all(h in self.results for h in handles)

    async def wait_for(self, handles: list[Handle], mode: Await = Await.ANY) -> None:
        """Return once `handles` are completed (any or all); suspend if that takes too long."""
        while True:
            if self.failure is not None:
                raise self.failure
            if not self.cancelled and _CANCEL in self.results:
                if self.steps_executing or self.seen_length < self._expected_length:
                    if not self._consume_one():  # a step in flight completes first
                        await self._wait_live(None)
                    continue
                self.cancelled = True  # raised once; compensations may await afterwards
                if self.on_cancel is not None:
                    self.on_cancel()
                raise TerminalError("cancelled", 409)
            if self._satisfied(handles, mode):
                return
            if self._consume_one():
                continue
            if self.steps_executing or self.seen_length < self._expected_length:
                await self._wait_live(None)  # an own step is running or not yet durable
                continue
            if self.inactivity_timeout <= 0:
                raise self._suspend(handles, mode)
            if self.pending:
                self.flush()
                continue
            if not await self._wait_live(self.inactivity_timeout):
                raise self._suspend(handles, mode)

    async def _wait_live(self, seconds: float | None) -> bool:
        """Wait for delivered entries (True), or until `seconds` pass without any (False)."""
        if self.seen_length in self._live or self.failure is not None:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._live_waiter = waiter
        timer = None if seconds is None else loop.call_later(seconds, _expire, waiter)
        try:
            return await waiter
        finally:
            self._live_waiter = None
            if timer is not None:
                timer.cancel()

    def _suspend(self, handles: list[Handle], mode: Await) -> SuspendedException:
        if mode is Await.ALL:  # wake only once the last missing one arrives
            handles = [h for h in handles if h not in self.results]
        numbers = [h for h in handles if isinstance(h, int)]
        signals = {-h for h in numbers if h < 0}
        if not self.cancelled:
            signals.add(CANCEL_SIGNAL)  # a cancellation must always be able to wake it
        self.waiting = Waiting(
            completion_ids=tuple(sorted(h for h in numbers if h > 0)),
            signal_indexes=tuple(sorted(signals)),
            all_of=mode is Await.ALL,
            signal_names=tuple(sorted({h for h in handles if isinstance(h, str)})),
        )
        return SuspendedException()


_CANCEL = signal_handle(CANCEL_SIGNAL)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _same_command(recorded: Entry, actual: Entry) -> bool:
    if type(recorded) is not type(actual):
        return False
    name = getattr(recorded, "name", None)
    if name is not None and not isinstance(recorded, RunCommand):
        return bool(name == getattr(actual, "name", None))
    if isinstance(recorded, CallCommand | OneWayCallCommand) and isinstance(
        actual, CallCommand | OneWayCallCommand
    ):
        return (recorded.service, recorded.handler, recorded.key) == (
            actual.service,
            actual.handler,
            actual.key,
        )
    if isinstance(recorded, RunCommand) and isinstance(actual, RunCommand):
        return recorded.name == actual.name
    if isinstance(recorded, CompleteAwakeableCommand) and isinstance(
        actual, CompleteAwakeableCommand
    ):
        return recorded.awakeable_id == actual.awakeable_id
    return True
