"""Which fields of a command a replay must reproduce, and a readable diff when it does not.

A replayed command is compared field by field with the recorded one, on the fields the handler's
code decides: names, targets, keys, arguments, values written, and the completion id (it ties a
recorded completion to the future that awaits it). Fields that are not the code's to decide are
left out: what storage answered (a `GetState`'s value, the state keys), absolute times computed
from the clock (a sleep's wake-up time, a delayed send's start time) and ids the engine derives.
"""

from __future__ import annotations

from typing import Any

from wakeful.journal.entries import (
    AttachInvocationCommand,
    AwakeableCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    Entry,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    OneWayCallCommand,
    OutputCommand,
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendSignalCommand,
    SetStateCommand,
    SleepCommand,
)

__all__ = ["COMPARED_FIELDS", "differences"]

_CALL = ("service", "handler", "key", "input", "headers", "idempotency_key")

COMPARED_FIELDS: dict[type[Any], tuple[str, ...]] = {
    InputCommand: (),
    OutputCommand: ("result",),
    RunCommand: ("name", "completion_id"),
    SleepCommand: ("name", "completion_id"),
    CallCommand: (*_CALL, "completion_id"),
    OneWayCallCommand: _CALL,
    GetStateCommand: ("name",),
    GetStateKeysCommand: (),
    SetStateCommand: ("name", "value"),
    ClearStateCommand: ("name",),
    ClearAllStateCommand: (),
    # The description and schema are for people and the edge's checks; a replay that words
    # the description anew, or runs with a newer pydantic, is the same handler.
    AwakeableCommand: ("signal_index",),
    CompleteAwakeableCommand: ("awakeable_id", "result"),
    SendSignalCommand: ("invocation_id", "index", "result"),
    AttachInvocationCommand: ("invocation_id", "completion_id"),
    GetPromiseCommand: ("name", "completion_id"),
    PeekPromiseCommand: ("name", "completion_id"),
    CompletePromiseCommand: ("name", "result", "completion_id"),
}

_MAX_SHOWN = 80  # characters of a value shown in a diff line


def differences(recorded: Entry, actual: Entry) -> list[str]:
    """One line per differing field (empty when the handler repeated the recorded command)."""
    kind = type(recorded)
    if kind is not type(actual):
        return [f"command type: recorded {kind.__name__}, handler {type(actual).__name__}"]
    lines = []
    for name in COMPARED_FIELDS[kind]:
        was, now = getattr(recorded, name), getattr(actual, name)
        if was != now:
            lines.append(f"{name}: recorded {_show(was)}, handler {_show(now)}")
    return lines


def _show(value: object) -> str:
    if isinstance(value, Result):
        if value.failure is not None:
            text = f"failure({value.failure.code}, {value.failure.message!r})"
        else:
            text = f"value({_show(value.value)})"
    elif isinstance(value, bytes):
        try:
            text = repr(value.decode("utf-8"))
        except UnicodeDecodeError:
            text = f"0x{value.hex()}"
        text = f"{text} ({len(value)} bytes)" if len(text) > _MAX_SHOWN else text
    else:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
