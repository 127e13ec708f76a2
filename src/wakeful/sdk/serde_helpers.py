"""The helper names of restate-sdk's `restate.serde` beyond the serdes themselves.

restate-sdk picks its dataclass and msgspec support at import time, from optional packages;
wakeful always has both (msgspec is a dependency, dataclasses are converted by wakeful itself),
so these helpers always return the working implementation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from wakeful.sdk.serde import _from_json

__all__ = [
    "DaciteFromDict",
    "DaciteToDict",
    "Msgspec",
    "MsgspecJsonAPI",
    "try_import_from_dacite",
    "try_import_msgspec_api",
    "try_import_pydantic_base_model",
]

T = TypeVar("T")


def try_import_pydantic_base_model() -> type[Any]:
    """pydantic's `BaseModel`, or a placeholder class when pydantic is not installed."""
    try:
        from pydantic import BaseModel

        return BaseModel
    except ImportError:  # pydantic is an optional extra

        class Dummy:
            """Stands in for pydantic's BaseModel when pydantic is not installed."""

        return Dummy


def _to_dict(obj: Any) -> dict[Any, Any]:
    return dataclasses.asdict(obj)


def _from_dict(data_class: Any, data: Any) -> Any:
    return _from_json(data_class, data)


def try_import_from_dacite() -> tuple[Callable[[Any], dict[Any, Any]], Callable[[Any, Any], Any]]:
    """`(to_dict, from_dict)` for dataclasses (wakeful converts them without dacite)."""
    return _to_dict, _from_dict


class MsgspecJsonAPI:
    """The msgspec operations the serdes use."""

    def is_struct(self, annotation: Any) -> bool:
        """Whether `annotation` is a msgspec Struct class."""
        return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)

    def decode(self, buf: bytes, type: type[T]) -> T:
        """Decode JSON into `type`."""
        return msgspec.json.decode(buf, type=type)

    def encode(self, obj: Any) -> bytes:
        """Encode `obj` as JSON."""
        return msgspec.json.encode(obj)

    def json_schema(self, type: type[T]) -> dict[str, Any]:
        """The JSON schema of `type`."""
        return msgspec.json.schema(type)


def try_import_msgspec_api() -> MsgspecJsonAPI:
    """The msgspec API (always available in wakeful)."""
    return MsgspecJsonAPI()


Msgspec = try_import_msgspec_api()
DaciteToDict, DaciteFromDict = try_import_from_dacite()
