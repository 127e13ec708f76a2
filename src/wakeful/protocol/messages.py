"""The protocol's message types: type codes, their protobuf classes, encoding and decoding.

Notifications of every kind share one shape (an id and a result), so they decode into one
class, `pb.Notification`; the type code says which command they answer.
"""

from __future__ import annotations

import enum
from typing import Any

from google.protobuf.message import DecodeError

from wakeful.protocol import service_protocol_pb2 as pb
from wakeful.protocol.framing import Frame, FramingError, encode_frame

__all__ = ["MessageType", "decode", "encode", "pb"]


class MessageType(enum.IntEnum):
    """The 16-bit type codes of the messages wakeful sends and understands."""

    START = 0x0000
    SUSPENSION = 0x0001
    ERROR = 0x0002
    END = 0x0003
    COMMAND_ACK = 0x0004
    PROPOSE_RUN_COMPLETION = 0x0005
    AWAITING_ON = 0x0006
    PROPOSE_RUN_COMPLETION_ACK = 0x0007
    INPUT = 0x0400
    OUTPUT = 0x0401
    GET_LAZY_STATE = 0x0402
    SET_STATE = 0x0403
    CLEAR_STATE = 0x0404
    CLEAR_ALL_STATE = 0x0405
    GET_LAZY_STATE_KEYS = 0x0406
    GET_EAGER_STATE = 0x0407
    GET_EAGER_STATE_KEYS = 0x0408
    GET_PROMISE = 0x0409
    PEEK_PROMISE = 0x040A
    COMPLETE_PROMISE = 0x040B
    SLEEP = 0x040C
    CALL = 0x040D
    ONE_WAY_CALL = 0x040E
    SEND_SIGNAL = 0x0410
    RUN = 0x0411
    ATTACH_INVOCATION = 0x0412
    GET_INVOCATION_OUTPUT = 0x0413
    COMPLETE_AWAKEABLE = 0x0414
    GET_LAZY_STATE_COMPLETION = 0x8002
    GET_LAZY_STATE_KEYS_COMPLETION = 0x8006
    GET_PROMISE_COMPLETION = 0x8009
    PEEK_PROMISE_COMPLETION = 0x800A
    COMPLETE_PROMISE_COMPLETION = 0x800B
    SLEEP_COMPLETION = 0x800C
    CALL_COMPLETION = 0x800D
    CALL_INVOCATION_ID_COMPLETION = 0x800E
    RUN_COMPLETION = 0x8011
    ATTACH_INVOCATION_COMPLETION = 0x8012
    GET_INVOCATION_OUTPUT_COMPLETION = 0x8013
    SIGNAL = 0xFBFF

    @property
    def is_command(self) -> bool:
        """True for journal commands (0x0400-0x7FFF)."""
        return 0x0400 <= self < 0x8000

    @property
    def is_notification(self) -> bool:
        """True for notifications (0x8000-0xFBFF)."""
        return 0x8000 <= self < 0xFC00


_CLASSES: dict[MessageType, type[Any]] = {
    MessageType.START: pb.StartMessage,
    MessageType.SUSPENSION: pb.SuspensionMessage,
    MessageType.ERROR: pb.ErrorMessage,
    MessageType.END: pb.EndMessage,
    MessageType.COMMAND_ACK: pb.CommandAckMessage,
    MessageType.PROPOSE_RUN_COMPLETION: pb.ProposeRunCompletionMessage,
    MessageType.AWAITING_ON: pb.AwaitingOnMessage,
    MessageType.PROPOSE_RUN_COMPLETION_ACK: pb.ProposeRunCompletionAckMessage,
    MessageType.INPUT: pb.InputCommandMessage,
    MessageType.OUTPUT: pb.OutputCommandMessage,
    MessageType.GET_LAZY_STATE: pb.GetLazyStateCommandMessage,
    MessageType.SET_STATE: pb.SetStateCommandMessage,
    MessageType.CLEAR_STATE: pb.ClearStateCommandMessage,
    MessageType.CLEAR_ALL_STATE: pb.ClearAllStateCommandMessage,
    MessageType.GET_LAZY_STATE_KEYS: pb.GetLazyStateKeysCommandMessage,
    MessageType.GET_EAGER_STATE: pb.GetEagerStateCommandMessage,
    MessageType.GET_EAGER_STATE_KEYS: pb.GetEagerStateKeysCommandMessage,
    MessageType.GET_PROMISE: pb.GetPromiseCommandMessage,
    MessageType.PEEK_PROMISE: pb.PeekPromiseCommandMessage,
    MessageType.COMPLETE_PROMISE: pb.CompletePromiseCommandMessage,
    MessageType.SLEEP: pb.SleepCommandMessage,
    MessageType.CALL: pb.CallCommandMessage,
    MessageType.ONE_WAY_CALL: pb.OneWayCallCommandMessage,
    MessageType.SEND_SIGNAL: pb.SendSignalCommandMessage,
    MessageType.RUN: pb.RunCommandMessage,
    MessageType.ATTACH_INVOCATION: pb.AttachInvocationCommandMessage,
    MessageType.GET_INVOCATION_OUTPUT: pb.GetInvocationOutputCommandMessage,
    MessageType.COMPLETE_AWAKEABLE: pb.CompleteAwakeableCommandMessage,
}


def message_class(type_: MessageType) -> type[Any]:
    """The protobuf class of a message type."""
    if type_.is_notification:
        notification: type[Any] = pb.Notification
        return notification
    return _CLASSES[type_]


def encode(type_: MessageType, message: Any, flags: int = 0) -> bytes:
    """One framed message."""
    expected = message_class(type_)
    if not isinstance(message, expected):
        raise TypeError(f"{type_.name} carries {expected.__name__}, not {type(message).__name__}")
    return encode_frame(type_, message.SerializeToString(), flags)


def decode(frame: Frame) -> tuple[MessageType, Any]:
    """The type and protobuf message of a frame; FramingError for an unknown or bad one."""
    try:
        type_ = MessageType(frame.type)
    except ValueError:
        raise FramingError(f"unknown message type 0x{frame.type:04x}") from None
    message = message_class(type_)()
    try:
        message.ParseFromString(frame.payload)
    except DecodeError as e:
        raise FramingError(f"cannot decode {type_.name}: {e}") from e
    return type_, message
