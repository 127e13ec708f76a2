"""JSON Schema of the payload a type hint expects, for the list of pending waits and the
validation of completions.

pydantic models give their own (`model_json_schema`); msgspec derives one for everything else
it can decode (primitives, dataclasses, Structs, TypedDicts, enums, containers). A hint with
no JSON meaning (`bytes`, a custom serde, no hint) has no schema, and its payloads are not
checked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable
from typing import Any

import msgspec

from wakeful.sdk.serde import (
    DefaultSerde,
    MsgspecJsonSerde,
    PydanticJsonSerde,
    Serde,
    is_pydantic,
)

__all__ = ["schema_for", "schema_of_serde"]


def schema_of_serde(serde: Serde[Any], type_hint: Any = None) -> bytes | None:
    """The JSON Schema text of what `serde` (with `type_hint`) decodes, or None."""
    if isinstance(serde, DefaultSerde):
        hint = serde.type_hint if type_hint is None else type_hint
    elif isinstance(serde, PydanticJsonSerde | MsgspecJsonSerde):
        hint = serde.model
    else:
        return None  # a custom serde: its wire format is its own business
    if hint is None:
        return None
    if isinstance(hint, Hashable):
        try:
            return schema_for(hint)
        except TypeError:  # hashable outside, unhashable inside (e.g. Literal[[1]]): no cache
            pass
    return _derive(hint)


@functools.lru_cache(maxsize=256)
def schema_for(hint: Any) -> bytes | None:
    """The JSON Schema text of `hint` (cached: handlers create awakeables in hot loops)."""
    return _derive(hint)


def _derive(hint: Any) -> bytes | None:
    if hint is bytes or hint is Any:
        return None
    if is_pydantic(hint):
        return json.dumps(hint.model_json_schema(), sort_keys=True).encode()
    try:
        schema = msgspec.json.schema(hint)
    except (TypeError, ValueError):
        return None  # msgspec cannot describe it: accept any payload
    return json.dumps(schema, sort_keys=True).encode()
