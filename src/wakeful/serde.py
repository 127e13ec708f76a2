"""Serializers for handler inputs, outputs, state and journal values (like `restate.serde`)."""

from wakeful.sdk.serde import (
    BytesSerde,
    DefaultSerde,
    JsonSerde,
    MsgspecJsonSerde,
    PydanticJsonSerde,
    Serde,
    is_pydantic,
)

__all__ = [
    "BytesSerde",
    "DefaultSerde",
    "JsonSerde",
    "MsgspecJsonSerde",
    "PydanticJsonSerde",
    "Serde",
    "is_pydantic",
]
