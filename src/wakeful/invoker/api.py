"""The seam between the engine's effects and whatever runs a handler's attempts.

```
engine effects ──► Invoker.start(StartAttempt)      run attempt N of an invocation
                   Invoker.deliver(EntriesAppended)  durable entries for the live attempt
                   Invoker.abort(invocation_id)      it was fenced off: stop it
                   Invoker.abort_all()               the leader restarted: storage is the truth
                   Invoker.close()                   stop everything (recovered on restart)
attempt ──► post(Event)                              AppendEntries, AttemptCompleted/Failed/…
```

An invoker answers through the `post` callback it was built with; it never touches storage
other than through the loaders it was given. The in-process invoker runs handlers of the
application in this process; a remote one speaks Restate's service protocol to a deployment.
"""

from __future__ import annotations

from typing import Protocol

from wakeful.engine.effects import EntriesAppended, StartAttempt
from wakeful.journal.ids import InvocationId

__all__ = ["InputCheck", "Invoker"]


class Invoker(Protocol):
    """Runs attempts of the invocations whose services it serves."""

    @property
    def running(self) -> int:
        """How many attempts are live right now."""
        ...

    def start(self, effect: StartAttempt) -> None:
        """Start an attempt (the engine already made it the current one)."""
        ...

    def deliver(self, effect: EntriesAppended) -> None:
        """Hand durable journal entries to the live attempt they belong to, if any."""
        ...

    def abort(self, invocation_id: InvocationId) -> None:
        """Stop the live attempt of `invocation_id`, if there is one."""
        ...

    def abort_all(self) -> None:
        """Stop every live attempt (their invocations are recovered)."""
        ...

    async def close(self) -> None:
        """Stop every attempt (their invocations are recovered on the next start)."""
        ...


class InputCheck(Protocol):
    """An extra input check an invoker can make before an invocation exists."""

    def __call__(self, service: str, handler: str, body: bytes) -> str | None:
        """None if the handler can decode `body`, else why it cannot."""
        ...
