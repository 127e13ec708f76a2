"""Journal entries: commands (what a handler did) and notifications (what happened to it).

An invocation's journal is an ordered list of entries. Entry 0 is always the `InputCommand`.
Commands are matched by their position among commands on replay; notifications are consumed in
journal order while the handler awaits. A notification is a *completion* (addressed by the
`completion_id` its command allocated) or a *signal* (addressed by an index: 1 is CANCEL,
awakeables start at 17).

Entries are msgspec structs encoded as tagged MessagePack arrays (`journal.codec`).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Command",
    "CompleteAwakeableCommand",
    "CompletionNotification",
    "Entry",
    "Failure",
    "InputCommand",
    "Notification",
    "OutputCommand",
    "Result",
    "RunCommand",
    "SignalNotification",
    "describe",
]


class Failure(msgspec.Struct, frozen=True, array_like=True):
    """A terminal failure: an HTTP-like code and a message."""

    code: int
    message: str
    metadata: dict[str, str] | None = None


class Result(msgspec.Struct, frozen=True, array_like=True):
    """Either a success value (bytes, possibly empty) or a failure."""

    value: bytes | None = None
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """True for a success."""
        return self.failure is None


class InputCommand(msgspec.Struct, frozen=True, tag="in", array_like=True):
    """The invocation's input: request headers and body."""

    headers: list[tuple[str, str]]
    value: bytes


class OutputCommand(msgspec.Struct, frozen=True, tag="out", array_like=True):
    """The invocation's final result."""

    result: Result


class RunCommand(msgspec.Struct, frozen=True, tag="run", array_like=True):
    """A `ctx.run` step; its result arrives as the completion `completion_id`."""

    name: str
    completion_id: int


class CompleteAwakeableCommand(msgspec.Struct, frozen=True, tag="cawk", array_like=True):
    """`ctx.resolve_awakeable` / `ctx.reject_awakeable`: deliver a signal to another invocation."""

    awakeable_id: str
    result: Result


class CompletionNotification(msgspec.Struct, frozen=True, tag="cn", array_like=True):
    """The result of the command that allocated `completion_id`."""

    completion_id: int
    result: Result


class SignalNotification(msgspec.Struct, frozen=True, tag="sn", array_like=True):
    """A signal delivered to this invocation (an awakeable completion, or CANCEL = 1)."""

    index: int
    result: Result


Command = InputCommand | OutputCommand | RunCommand | CompleteAwakeableCommand
Notification = CompletionNotification | SignalNotification
Entry = Command | Notification

NOTIFICATION_TYPES = (CompletionNotification, SignalNotification)


def describe(entry: Entry) -> str:
    """A short human-readable name of an entry, used in journal-mismatch errors."""
    match entry:
        case InputCommand():
            return "Input"
        case OutputCommand():
            return "Output"
        case RunCommand(name=name):
            return f"Run(name={name!r})"
        case CompleteAwakeableCommand(awakeable_id=awakeable_id):
            return f"CompleteAwakeable(id={awakeable_id!r})"
        case CompletionNotification(completion_id=cid):
            return f"Completion(id={cid})"
        case SignalNotification(index=index):
            return f"Signal(index={index})"
    raise TypeError(f"not a journal entry: {entry!r}")
