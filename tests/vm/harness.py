"""A small in-memory engine around the real in-process invoker, for replay tests.

It starts attempts of a handler with `InProcessInvoker`, journals what they append (applying
state writes the way the engine does), echoes the entries back as durable, and reports how
each attempt ended. Tests drive suspensions and completions themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.engine.events import (
    AppendEntries,
    AttemptCompleted,
    AttemptFailed,
    AttemptSuspended,
    Event,
)
from wakeful.engine.model import ObjectKey, Target
from wakeful.invoker.inprocess import InProcessInvoker, InvokerSettings
from wakeful.journal.entries import (
    NOTIFICATION_TYPES,
    ClearAllStateCommand,
    ClearStateCommand,
    Entry,
    InputCommand,
    OutputCommand,
    SetStateCommand,
)
from wakeful.journal.ids import InvocationId
from wakeful.sdk.app import App

__all__ = ["Ended", "MemoryEngine", "commands_of"]

Ended = AttemptCompleted | AttemptSuspended | AttemptFailed


def commands_of(journal: list[Entry]) -> list[Entry]:
    """The commands of a journal, in position order (notifications left out)."""
    return [e for e in journal if not isinstance(e, NOTIFICATION_TYPES)]


@dataclass
class MemoryEngine:
    """One invocation of `target`, its journal and its key's state, kept in memory."""

    app: App
    target: Target
    body: bytes = b""
    state: dict[str, bytes] = field(default_factory=dict)
    load_delays: list[float] = field(default_factory=list)  # n-th load call of each attempt
    inactivity_timeout: float = 0.0
    iid: InvocationId = field(default_factory=lambda: InvocationId(3, 1234567))
    journal: list[Entry] = field(init=False)
    loads: int = field(init=False, default=0)
    attempts: int = field(init=False, default=0)
    _attempt_loads: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.journal = [InputCommand([], self.body)]

    async def attempt(self) -> Ended:
        """Run one attempt on the journal as it is now; append what it journals."""
        self.attempts += 1
        self._attempt_loads = 0
        attempt = self.attempts
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Ended] = loop.create_future()

        def post(event: Event) -> None:
            entries = getattr(event, "entries", [])
            first = len(self.journal)
            self._append(entries)
            if isinstance(event, AppendEntries):  # durable "later": echo on the next loop turn
                effect = EntriesAppended(self.iid, attempt, first, list(entries))
                loop.call_soon(invoker.deliver, effect)
            elif not ended.done():
                assert isinstance(event, Ended)
                if isinstance(event, AttemptCompleted):
                    self.journal.append(OutputCommand(event.result))
                ended.set_result(event)

        invoker = InProcessInvoker(
            self.app,
            post=post,
            load_journal=self._load_journal,
            load_state=self._load_state,
            settings=InvokerSettings(timedelta(seconds=self.inactivity_timeout)),
        )
        invoker.start(StartAttempt(self.iid, attempt, self.target, list(self.journal)))
        try:
            return await asyncio.wait_for(ended, 10)
        finally:
            await invoker.close()

    def add(self, *entries: Entry) -> None:
        """Append notifications from the outside world (completions, signals)."""
        self.journal.extend(entries)

    def _append(self, entries: list[Entry]) -> None:
        for entry in entries:
            self.journal.append(entry)
            if isinstance(entry, SetStateCommand):
                self.state[entry.name] = entry.value
            elif isinstance(entry, ClearStateCommand):
                self.state.pop(entry.name, None)
            elif isinstance(entry, ClearAllStateCommand):
                self.state.clear()

    async def _load_journal(self, iid: InvocationId) -> list[Entry]:
        return list(self.journal)

    def _load_state(self, key: ObjectKey) -> Awaitable[dict[str, bytes]]:
        n = self._attempt_loads
        delay = self.load_delays[n] if n < len(self.load_delays) else 0.0
        self.loads += 1
        self._attempt_loads += 1
        snapshot = dict(self.state)
        return _later(delay, lambda: snapshot)


async def _later(delay: float, value: Callable[[], dict[str, bytes]]) -> dict[str, bytes]:
    await asyncio.sleep(delay)
    return value()
