"""Serializers between handler values and the bytes on the wire (restate-sdk compatible).

JSON is written with `json.dumps(obj).encode()`, so payloads are byte-identical to what
restate-sdk produces. Every serde maps `None` to `b""` and (except `BytesSerde`) `b""` to `None`.
pydantic is optional and never imported here: a class can only be a pydantic model if the
user already imported pydantic, so the check looks it up in `sys.modules`.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import json
import sys
import types
import typing
from collections import abc as cabc
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import msgspec

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "BytesSerde",
    "DefaultSerde",
    "JsonSerde",
    "MsgspecJsonSerde",
    "PydanticJsonSerde",
    "Serde",
    "is_pydantic",
    "serde_for_type",
]

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")

_NONE_TYPE = type(None)


def is_pydantic(annotation: object) -> bool:
    """Whether `annotation` is a pydantic model class (False when pydantic was never imported)."""
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    return base is not None and isinstance(annotation, type) and issubclass(annotation, base)


def _is_struct(hint: object) -> bool:
    return isinstance(hint, type) and issubclass(hint, msgspec.Struct)


def _is_dataclass_type(hint: object) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _core_type(hint: Any) -> Any:
    """Strip `Annotated[...]` and a single `Optional[...]` around `hint`."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not _NONE_TYPE]
        if len(args) == 1:
            return args[0]
    return hint


class Serde(Generic[T], abc.ABC):
    """Converts values of type `T` to bytes and back."""

    @abc.abstractmethod
    def deserialize(self, buf: bytes) -> T | None:
        """Decode `buf` into a value."""

    @abc.abstractmethod
    def serialize(self, obj: T | None) -> bytes:
        """Encode `obj` into bytes."""


class BytesSerde(Serde[bytes]):
    """Pass-through serde for raw bytes (`None` encodes as `b""`, `b""` decodes as `b""`)."""

    def deserialize(self, buf: bytes) -> bytes | None:
        """Return `buf` unchanged."""
        return bytes(buf)

    def serialize(self, obj: bytes | None) -> bytes:
        """Return `obj` unchanged, or `b""` for None."""
        return b"" if obj is None else bytes(obj)


class JsonSerde(Serde[T]):
    """Plain JSON via the standard library `json` module."""

    def deserialize(self, buf: bytes) -> T | None:
        """Parse JSON; an empty buffer is None."""
        if not buf:
            return None
        return cast(T, json.loads(buf))

    def serialize(self, obj: T | None) -> bytes:
        """Dump as JSON (UTF-8); None is the empty buffer."""
        if obj is None:
            return b""
        return json.dumps(obj).encode("utf-8")


class DefaultSerde(Serde[T]):
    """JSON serde that decodes into `type_hint` when it is a msgspec Struct, pydantic model
    or dataclass, and falls back to plain JSON otherwise."""

    def __init__(self, type_hint: type[T] | None = None) -> None:
        self.type_hint = type_hint

    def with_maybe_type(self, type_hint: type[T] | None = None) -> DefaultSerde[T]:
        """A new DefaultSerde for `type_hint` (this one is left unchanged)."""
        return DefaultSerde(type_hint)

    def deserialize(self, buf: bytes) -> T | None:
        """Decode `buf`, building an instance of the type hint where one is known."""
        if not buf:
            return None
        hint = self.type_hint
        if hint is not None:
            if _is_struct(hint):
                return msgspec.json.decode(buf, type=hint)
            if is_pydantic(hint):
                return cast(T, cast("type[BaseModel]", hint).model_validate_json(buf))
            if _is_dataclass_type(hint):
                return cast(T, _from_json(hint, json.loads(buf)))
        return cast(T, json.loads(buf))

    def serialize(self, obj: T | None) -> bytes:
        """Encode `obj` as JSON; dataclass instances are encoded as their fields."""
        if obj is None:
            return b""
        hint = self.type_hint
        if hint is not None:
            if _is_struct(hint):
                return msgspec.json.encode(obj)
            if is_pydantic(hint):
                return cast("BaseModel", obj).model_dump_json().encode("utf-8")
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return json.dumps(dataclasses.asdict(obj)).encode("utf-8")
        return json.dumps(obj).encode("utf-8")


class PydanticJsonSerde(Serde[M]):
    """JSON serde for one pydantic model class."""

    def __init__(self, model: type[M]) -> None:
        self.model = model

    def deserialize(self, buf: bytes) -> M | None:
        """Validate `buf` as JSON for the model; an empty buffer is None."""
        if not buf:
            return None
        return self.model.model_validate_json(buf)

    def serialize(self, obj: M | None) -> bytes:
        """Dump the model as compact JSON; None is the empty buffer."""
        if obj is None:
            return b""
        return obj.model_dump_json().encode("utf-8")


class MsgspecJsonSerde(Serde[T]):
    """JSON serde for a msgspec Struct (or any type msgspec can decode)."""

    def __init__(self, model: type[T]) -> None:
        self.model = model

    def deserialize(self, buf: bytes) -> T | None:
        """Decode and validate `buf` as the model; an empty buffer is None."""
        if not buf:
            return None
        return msgspec.json.decode(buf, type=self.model)

    def serialize(self, obj: T | None) -> bytes:
        """Encode with msgspec (compact JSON); None is the empty buffer."""
        if obj is None:
            return b""
        return msgspec.json.encode(obj)


def serde_for_type(hint: Any) -> Serde[Any]:
    """The serde a handler decorator picks for a (resolved) parameter or return type hint.

    `Optional[X]` and `Annotated[X, ...]` are judged by `X`: bytes get `BytesSerde`, pydantic
    models `PydanticJsonSerde`, msgspec Structs `MsgspecJsonSerde`, anything else `DefaultSerde`.
    """
    core = _core_type(hint)
    if core is bytes:
        return BytesSerde()
    if is_pydantic(core):
        return PydanticJsonSerde(core)
    if _is_struct(core):
        return MsgspecJsonSerde(core)
    if core is None or core is _NONE_TYPE or core is Any:
        return DefaultSerde()
    return DefaultSerde(core)


# -- JSON value -> dataclass -------------------------------------------------------------


_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)
_SEQUENCES = (list, cabc.Sequence, cabc.MutableSequence, cabc.Collection, cabc.Iterable)
_SETS = (set, cabc.Set, cabc.MutableSet)


def _from_json(hint: Any, value: Any) -> Any:
    """Convert a decoded JSON value to `hint`, building nested dataclasses on the way.

    Plain classes are checked with isinstance (an int is accepted for float), unions try
    their members in order, and hints this does not understand pass the value through.
    """
    if hint is Any:
        return value
    if _is_dataclass_type(hint):
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object for {hint.__qualname__}, got {value!r}")
        field_types = typing.get_type_hints(hint)
        kwargs = {
            f.name: _from_json(field_types.get(f.name, Any), value[f.name])
            for f in dataclasses.fields(hint)
            if f.init and f.name in value
        }
        return hint(**kwargs)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        return _from_json_class(hint, value) if isinstance(hint, type) else value
    if origin is typing.Annotated:
        return _from_json(args[0], value)
    if origin in (typing.Union, types.UnionType):
        if value is None and _NONE_TYPE in args:
            return None
        for arg in args:
            try:
                return _from_json(arg, value)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{value!r} matches none of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{value!r} is not one of {args}")
        return value
    if origin in _MAPPINGS:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object for {hint}, got {value!r}")
        return {k: _from_json(args[-1] if args else Any, v) for k, v in value.items()}
    if origin in (*_SEQUENCES, *_SETS, tuple, frozenset):
        return _from_json_array(hint, origin, args, value)
    if _is_dataclass_type(origin):  # a parametrised generic dataclass
        return _from_json(origin, value)
    return value


def _from_json_array(hint: Any, origin: Any, args: tuple[Any, ...], value: Any) -> Any:
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array for {hint}, got {value!r}")
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(args) != len(value):
            raise TypeError(f"expected {len(args)} items for {hint}, got {len(value)}")
        return tuple(_from_json(a, v) for a, v in zip(args, value, strict=True))
    items = [_from_json(args[0] if args else Any, v) for v in value]
    if origin is tuple:
        return tuple(items)
    if origin in _SETS:
        return set(items)
    if origin is frozenset:
        return frozenset(items)
    return items


def _from_json_class(hint: type[Any], value: Any) -> Any:
    if issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(value, hint):
        return value
    if hint is float and isinstance(value, int):
        return float(value)
    if hint in (tuple, set, frozenset) and isinstance(value, list):
        return hint(value)
    raise TypeError(f"expected {hint.__qualname__}, got {value!r}")
