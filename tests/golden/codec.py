"""Journals as readable JSON, and back: one object per entry, named by its entry type.

Bytes are written as `{"utf8": "..."}` when they are text and `{"hex": "..."}` otherwise, so a
recorded journal can be read (and reviewed in a diff) as it is.
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import msgspec

from wakeful.journal import entries
from wakeful.journal.entries import Entry

__all__ = ["from_json", "to_json"]

_STRUCTS: dict[str, type[msgspec.Struct]] = {
    name: cls
    for name, cls in vars(entries).items()
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct)
}


def to_json(value: Any) -> Any:
    """A JSON-compatible form of an entry (or of any value inside one)."""
    if isinstance(value, msgspec.Struct):
        fields = {f: to_json(getattr(value, f)) for f in value.__struct_fields__}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, bytes):
        try:
            return {"utf8": value.decode("utf-8")}
        except UnicodeDecodeError:
            return {"hex": value.hex()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Entry:
    """The entry `to_json` wrote."""
    return cast(Entry, msgspec.convert(_native(value), type=Entry))


def _native(value: Any) -> Any:
    """Back to msgspec's own array form (structs are array_like), with real bytes."""
    if isinstance(value, dict) and "type" in value:
        cls = _STRUCTS[value["type"]]
        config = cls.__struct_config__
        tag = [config.tag] if isinstance(config.tag, str) else []
        # Fields added later (with defaults) are missing from older recordings.
        present = itertools.takewhile(lambda f: f in value, cls.__struct_fields__)
        return [*tag, *(_native(value[f]) for f in present)]
    if isinstance(value, dict) and value.keys() == {"utf8"}:
        return value["utf8"].encode("utf-8")
    if isinstance(value, dict) and value.keys() == {"hex"}:
        return bytes.fromhex(value["hex"])
    if isinstance(value, list):
        return [_native(v) for v in value]
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    return value
