"""Message framing: every message is an 8-byte header (type u16, flags u16, length u32, big
endian) followed by `length` bytes of protobuf payload."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wakeful.errors import WakefulError

__all__ = ["REQUESTED_ACK", "Frame", "FrameDecoder", "FramingError", "encode_frame"]

_HEADER = struct.Struct(">HHI")
HEADER_SIZE = _HEADER.size
REQUESTED_ACK = 0x8000  # flag on ProposeRunCompletion: answer with an ack, not the notification
MAX_MESSAGE_SIZE = 32 * 1024 * 1024


class FramingError(WakefulError):
    """The byte stream does not hold well-formed frames."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One message as read off the stream: its type, flags and undecoded payload."""

    type: int
    flags: int
    payload: bytes

    @property
    def requested_ack(self) -> bool:
        """True when the sender asked for an ack instead of the echoed notification."""
        return bool(self.flags & REQUESTED_ACK)


def encode_frame(type_: int, payload: bytes, flags: int = 0) -> bytes:
    """The header followed by the payload."""
    return _HEADER.pack(type_, flags, len(payload)) + payload


class FrameDecoder:
    """Turns chunks of a byte stream into frames, however the chunks are cut."""

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    def feed(self, chunk: bytes) -> list[Frame]:
        """Add bytes; return every frame that is now complete."""
        self._buffer += chunk
        frames: list[Frame] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= HEADER_SIZE:
            type_, flags, length = _HEADER.unpack_from(buffer, offset)
            if length > self._max_size:
                raise FramingError(f"message of {length} bytes exceeds {self._max_size}")
            end = offset + HEADER_SIZE + length
            if end > len(buffer):
                break
            frames.append(Frame(type_, flags, bytes(buffer[offset + HEADER_SIZE : end])))
            offset = end
        if offset:
            del buffer[:offset]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)
