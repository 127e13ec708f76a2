"""Storage codec for journal entries: tagged MessagePack via msgspec."""

from __future__ import annotations

import msgspec

from wakeful.journal.entries import Entry, Result

__all__ = ["EncodeError", "decode_entry", "decode_result", "encode_entry", "encode_result"]

_encoder = msgspec.msgpack.Encoder()
_entry_decoder: msgspec.msgpack.Decoder[Entry] = msgspec.msgpack.Decoder(Entry)
_result_decoder = msgspec.msgpack.Decoder(Result)


class EncodeError(ValueError):
    """An entry holds a value the storage encoding cannot hold (an integer past 64 bits)."""


def encode_entry(entry: Entry) -> bytes:
    """Encode one journal entry; EncodeError names the entry when a value does not fit."""
    try:
        return _encoder.encode(entry)
    except OverflowError as e:
        raise EncodeError(f"cannot store a {type(entry).__name__}: {e}") from e


def decode_entry(data: bytes) -> Entry:
    """Decode one journal entry."""
    return _entry_decoder.decode(data)


def encode_result(result: Result) -> bytes:
    """Encode a result (an invocation's output)."""
    return _encoder.encode(result)


def decode_result(data: bytes) -> Result:
    """Decode a result."""
    return _result_decoder.decode(data)
