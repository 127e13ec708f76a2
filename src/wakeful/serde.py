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
from wakeful.sdk.serde_helpers import (
    DaciteFromDict,
    DaciteToDict,
    Msgspec,
    MsgspecJsonAPI,
    try_import_from_dacite,
    try_import_msgspec_api,
    try_import_pydantic_base_model,
)

__all__ = [
    "BytesSerde",
    "DaciteFromDict",
    "DaciteToDict",
    "DefaultSerde",
    "JsonSerde",
    "Msgspec",
    "MsgspecJsonAPI",
    "MsgspecJsonSerde",
    "PydanticJsonSerde",
    "Serde",
    "is_pydantic",
    "try_import_from_dacite",
    "try_import_msgspec_api",
    "try_import_pydantic_base_model",
]
