"""The asyncio pump around a `ReplayMachine`: it sends, waits and times out; the machine decides.

The pump is the only part of an attempt's replay logic that awaits: it sends the machine's
outbox to the engine, waits for entries the engine delivers (or for the attempt's own work in
flight), applies the inactivity timeout, and turns the machine's answers into what the handler
sees (a return, a `TerminalError` for a cancellation, a `SuspendedException`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from wakeful.errors import SuspendedException, TerminalError
from wakeful.journal.entries import Entry, Result
from wakeful.vm.handles import Await, Handle
from wakeful.vm.machine import Progress, ReplayMachine

__all__ = ["AttemptPump"]


class AttemptPump:
    """Drives one attempt's machine: `wait_for` is what every durable await goes through."""

    def __init__(
        self,
        machine: ReplayMachine,
        *,
        send: Callable[[list[Entry]], None],
        inactivity_timeout: float,
    ) -> None:
        self.machine = machine
        self.inactivity_timeout = inactivity_timeout
        self.on_cancel: Callable[[], None] | None = None  # propagates a cancellation
        self._send = send
        # Concurrent branches of one handler (asyncio.gather) may each be waiting: wake them all.
        self._waiters: set[asyncio.Future[bool]] = set()

    async def wait_for(self, handles: list[Handle], mode: Await = Await.ANY) -> None:
        """Return once `handles` are completed (any or all); suspend if that takes too long."""
        machine = self.machine
        may_wait = self.inactivity_timeout > 0
        while True:
            answer = machine.do_progress(handles, mode, may_wait)
            if answer is Progress.READY:
                return
            if answer is Progress.WAIT_OWN:
                await self._wait(None)
            elif answer is Progress.FLUSH:
                self.flush()
            elif answer is Progress.WAIT_EXTERNAL:
                may_wait = await self._wait(self.inactivity_timeout)
            elif answer is Progress.CANCELLED:
                if self.on_cancel is not None:
                    self.on_cancel()
                raise TerminalError("cancelled", 409)
            else:
                raise SuspendedException()

    def deliver(self, first_index: int, entries: Iterable[Entry]) -> None:
        """Entries the engine appended to this journal (durable): wake the waiting handler."""
        self.machine.notify(first_index, entries)
        self._wake()

    def propose_completion(self, completion_id: int, result: Result) -> None:
        """Journal a step's result at once: the handler continues only once it is durable."""
        self.machine.propose_completion(completion_id, result)
        self.flush()

    def fail(self, error: BaseException) -> None:
        """Fail the attempt from outside the handler (e.g. a step that must not be retried)."""
        self.machine.fail(error)
        self._wake()

    def work_done(self) -> None:
        """Own work that does not come back as an entry finished (a slot filled, a step ended)."""
        self.flush()
        self._wake()

    def flush(self) -> None:
        """Send the entries that are ready; they come back through `deliver` once durable."""
        entries = self.machine.take_output()
        if entries:
            self._send(entries)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(True)

    async def _wait(self, seconds: float | None) -> bool:
        """Wait for a delivery or own work (True), or until `seconds` pass without any (False)."""
        if self.machine.can_consume:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.add(waiter)
        timer = None if seconds is None else loop.call_later(seconds, _expire, waiter)
        try:
            return await waiter
        finally:
            self._waiters.discard(waiter)
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
