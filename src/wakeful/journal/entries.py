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
    "AttachInvocationCommand",
    "AwakeableCommand",
    "CallCommand",
    "ClearAllStateCommand",
    "ClearStateCommand",
    "Command",
    "CompleteAwakeableCommand",
    "CompletePromiseCommand",
    "CompletionNotification",
    "Entry",
    "Failure",
    "GetPromiseCommand",
    "GetStateCommand",
    "GetStateKeysCommand",
    "InputCommand",
    "Notification",
    "OneWayCallCommand",
    "OutputCommand",
    "PeekPromiseCommand",
    "Result",
    "RunCommand",
    "SendSignalCommand",
    "SetStateCommand",
    "SignalNotification",
    "SleepCommand",
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


class AwakeableCommand(msgspec.Struct, frozen=True, tag="awk", array_like=True):
    """`ctx.awakeable()`: the invocation created the awakeable with signal `signal_index`.

    Journaled so the server knows which awakeables exist (a completion of any other index is
    refused), what a person is asked (`description`) and which payload fits (`schema`, JSON
    Schema text of the awaited type, when the type hint gives one).
    """

    signal_index: int
    description: str | None = None
    schema: bytes | None = None


class CompleteAwakeableCommand(msgspec.Struct, frozen=True, tag="cawk", array_like=True):
    """`ctx.resolve_awakeable` / `ctx.reject_awakeable`: deliver a signal to another invocation."""

    awakeable_id: str
    result: Result


class GetStateCommand(msgspec.Struct, frozen=True, tag="gs", array_like=True):
    """`ctx.get(name)`: the value read is recorded, so a replay reads the same."""

    name: str
    value: bytes | None


class GetStateKeysCommand(msgspec.Struct, frozen=True, tag="gsk", array_like=True):
    """`ctx.state_keys()`: the keys read are recorded."""

    keys: list[str]


class SetStateCommand(msgspec.Struct, frozen=True, tag="ss", array_like=True):
    """`ctx.set(name, value)`."""

    name: str
    value: bytes


class ClearStateCommand(msgspec.Struct, frozen=True, tag="cs", array_like=True):
    """`ctx.clear(name)`."""

    name: str


class ClearAllStateCommand(msgspec.Struct, frozen=True, tag="cas", array_like=True):
    """`ctx.clear_all()`."""


class SleepCommand(msgspec.Struct, frozen=True, tag="sl", array_like=True):
    """`ctx.sleep(delta)`: a durable timer; completes `completion_id` at `wake_up_at_ms`."""

    wake_up_at_ms: int
    completion_id: int
    name: str | None = None


class CallCommand(msgspec.Struct, frozen=True, tag="call", array_like=True):
    """A call to another handler; its result arrives as the completion `completion_id`."""

    service: str
    handler: str
    key: str | None
    input: bytes
    headers: list[tuple[str, str]]
    invocation_id: bytes
    completion_id: int
    idempotency_key: str | None = None


class OneWayCallCommand(msgspec.Struct, frozen=True, tag="send", array_like=True):
    """A one-way call (send), optionally delayed until `invoke_at_ms`."""

    service: str
    handler: str
    key: str | None
    input: bytes
    headers: list[tuple[str, str]]
    invocation_id: bytes
    invoke_at_ms: int | None = None
    idempotency_key: str | None = None


class SendSignalCommand(msgspec.Struct, frozen=True, tag="sig", array_like=True):
    """Deliver a signal to another invocation (index 1 = cancel it)."""

    invocation_id: bytes
    index: int
    result: Result


class AttachInvocationCommand(msgspec.Struct, frozen=True, tag="att", array_like=True):
    """Wait for another invocation's result, as the completion `completion_id`."""

    invocation_id: bytes
    completion_id: int


class GetPromiseCommand(msgspec.Struct, frozen=True, tag="gp", array_like=True):
    """Await the workflow's durable promise `name` (with what a person is asked, and the JSON
    Schema of the awaited type, for the list of pending waits)."""

    name: str
    completion_id: int
    description: str | None = None
    schema: bytes | None = None


class PeekPromiseCommand(msgspec.Struct, frozen=True, tag="pp", array_like=True):
    """Read the workflow's durable promise `name` if completed (a void result otherwise)."""

    name: str
    completion_id: int


class CompletePromiseCommand(msgspec.Struct, frozen=True, tag="cp", array_like=True):
    """Resolve or reject the promise `name`; `completion_id` tells whether it was first."""

    name: str
    result: Result
    completion_id: int


class CompletionNotification(msgspec.Struct, frozen=True, tag="cn", array_like=True):
    """The result of the command that allocated `completion_id`."""

    completion_id: int
    result: Result


class SignalNotification(msgspec.Struct, frozen=True, tag="sn", array_like=True):
    """A signal delivered to this invocation (an awakeable completion, or CANCEL = 1)."""

    index: int
    result: Result


Command = (
    InputCommand
    | OutputCommand
    | RunCommand
    | AwakeableCommand
    | CompleteAwakeableCommand
    | GetStateCommand
    | GetStateKeysCommand
    | SetStateCommand
    | ClearStateCommand
    | ClearAllStateCommand
    | SleepCommand
    | CallCommand
    | OneWayCallCommand
    | SendSignalCommand
    | AttachInvocationCommand
    | GetPromiseCommand
    | PeekPromiseCommand
    | CompletePromiseCommand
)
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
        case AwakeableCommand(signal_index=index):
            return f"Awakeable(index={index})"
        case CompleteAwakeableCommand(awakeable_id=awakeable_id):
            return f"CompleteAwakeable(id={awakeable_id!r})"
        case GetStateCommand(name=name):
            return f"GetState(name={name!r})"
        case GetStateKeysCommand():
            return "GetStateKeys"
        case SetStateCommand(name=name):
            return f"SetState(name={name!r})"
        case ClearStateCommand(name=name):
            return f"ClearState(name={name!r})"
        case ClearAllStateCommand():
            return "ClearAllState"
        case SleepCommand(completion_id=cid, name=name):
            return f"Sleep(name={name!r}, id={cid})"
        case CallCommand(service=svc, handler=h, key=key):
            return f"Call({svc}/{key + '/' if key else ''}{h})"
        case OneWayCallCommand(service=svc, handler=h, key=key):
            return f"OneWayCall({svc}/{key + '/' if key else ''}{h})"
        case SendSignalCommand(index=index):
            return f"SendSignal(index={index})"
        case AttachInvocationCommand():
            return "AttachInvocation"
        case GetPromiseCommand(name=name):
            return f"GetPromise(name={name!r})"
        case PeekPromiseCommand(name=name):
            return f"PeekPromise(name={name!r})"
        case CompletePromiseCommand(name=name):
            return f"CompletePromise(name={name!r})"
        case CompletionNotification(completion_id=cid):
            return f"Completion(id={cid})"
        case SignalNotification(index=index):
            return f"Signal(index={index})"
    raise TypeError(f"not a journal entry: {entry!r}")
