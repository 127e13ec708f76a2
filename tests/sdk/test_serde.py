"""Serdes: wire bytes, round trips and type-hint driven decoding."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import subprocess
import sys
import textwrap
from typing import Annotated, Any, Literal

import msgspec
import pydantic
import pytest

from wakeful.sdk.serde import (
    BytesSerde,
    DefaultSerde,
    JsonSerde,
    MsgspecJsonSerde,
    PydanticJsonSerde,
    Serde,
    is_pydantic,
    serde_for_type,
)


@dataclasses.dataclass
class Inner:
    name: str
    weight: float = 1.0


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Outer:
    id: int
    inner: Inner
    items: list[Inner]
    by_key: dict[str, Inner]
    maybe: Inner | None = None
    pair: tuple[int, str] = (0, "")
    mode: Literal["a", "b"] = "a"
    either: int | Inner = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class WithEnum:
    colour: Colour


class Person(pydantic.BaseModel):
    name: str
    age: int


class Point(msgspec.Struct):
    x: int
    y: int


SAMPLE: Any = {"b": [1, 2.5, None, True], "a": "é ü", "nested": {"k": "v"}}


def test_json_serde_bytes_match_json_dumps() -> None:
    """JsonSerde writes exactly json.dumps(obj).encode(), key order and spaces included."""
    out = JsonSerde[Any]().serialize(SAMPLE)
    assert out == json.dumps(SAMPLE).encode()
    assert out.startswith(b'{"b": [1, 2.5, null, true], "a": "\\u00e9 \\u00fc"')


def test_json_serde_round_trip() -> None:
    """JsonSerde decodes what it encodes."""
    serde = JsonSerde[Any]()
    assert serde.deserialize(serde.serialize(SAMPLE)) == SAMPLE
    assert serde.deserialize(b"0") == 0


@pytest.mark.parametrize(
    "serde",
    [
        JsonSerde(),
        DefaultSerde(),
        DefaultSerde(Inner),
        PydanticJsonSerde(Person),
        MsgspecJsonSerde(Point),
    ],
    ids=lambda s: type(s).__name__,
)
def test_empty_and_none(serde: Serde[Any]) -> None:
    """JSON-ish serdes map b"" to None and None to b""."""
    assert serde.deserialize(b"") is None
    assert serde.serialize(None) == b""


def test_bytes_serde_passes_through() -> None:
    """BytesSerde is the identity, None encodes as b"" and b"" decodes as b"" (not None)."""
    serde = BytesSerde()
    raw = bytes(range(256))
    assert serde.serialize(raw) == raw
    assert serde.deserialize(raw) == raw
    assert serde.serialize(None) == b""
    assert serde.deserialize(b"") == b""


@pytest.mark.parametrize(
    "serde",
    [JsonSerde(), DefaultSerde(), DefaultSerde(Inner)],
    ids=["json", "default", "dataclass"],
)
def test_invalid_json_raises(serde: Serde[Any]) -> None:
    """Malformed JSON raises instead of decoding to something."""
    with pytest.raises(json.JSONDecodeError):
        serde.deserialize(b'{"name": ')


def test_default_serde_untyped_is_plain_json() -> None:
    """Without a type hint DefaultSerde behaves exactly like JsonSerde."""
    serde = DefaultSerde[Any]()
    assert serde.serialize(SAMPLE) == json.dumps(SAMPLE).encode()
    assert serde.deserialize(b'{"name": "x"}') == {"name": "x"}


def test_default_serde_non_model_hint_falls_back_to_json() -> None:
    """A hint that is no dataclass/model (int, dict) does not change plain JSON decoding."""
    assert DefaultSerde(int).deserialize(b"42") == 42
    assert DefaultSerde(dict).deserialize(b'{"a": [1]}') == {"a": [1]}


def test_with_maybe_type_returns_new_serde() -> None:
    """with_maybe_type makes a new serde with the hint and leaves the original untyped."""
    base = DefaultSerde[Any]()
    typed = base.with_maybe_type(Inner)
    assert typed is not base
    assert typed.type_hint is Inner
    assert base.type_hint is None
    assert typed.deserialize(b'{"name": "n"}') == Inner("n")


OUTER = Outer(
    id=7,
    inner=Inner("a", 2.5),
    items=[Inner("b"), Inner("c", 0.5)],
    by_key={"k": Inner("d")},
    maybe=Inner("e"),
    pair=(3, "three"),
    mode="b",
    either=Inner("f"),
    tags=["x", "y"],
)


def test_dataclass_round_trip_nested() -> None:
    """Nested dataclasses (in fields, lists, dicts, optionals, unions, tuples) round-trip."""
    serde = DefaultSerde(Outer)
    buf = serde.serialize(OUTER)
    assert buf == json.dumps(dataclasses.asdict(OUTER)).encode()
    assert serde.deserialize(buf) == OUTER


def test_dataclass_decoding_uses_defaults_and_ignores_unknown_keys() -> None:
    """Missing defaulted fields take their default; keys not in the dataclass are ignored."""
    got = DefaultSerde(Outer).deserialize(
        b'{"id": 1, "inner": {"name": "i", "weight": 3}, "items": [], "by_key": {}, "extra": 1}'
    )
    assert got == Outer(id=1, inner=Inner("i", 3.0), items=[], by_key={})
    assert got is not None
    assert isinstance(got.inner.weight, float)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"inner": {"name": "i"}, "items": [], "by_key": {}}',  # missing required id
        b'{"id": "1", "inner": {"name": "i"}, "items": [], "by_key": {}}',  # wrong type
        b'{"id": 1, "inner": [], "items": [], "by_key": {}}',  # array for a dataclass
        b'{"id": 1, "inner": {"name": "i"}, "items": [], "by_key": {}, "mode": "c"}',
        b"[1, 2]",
    ],
    ids=["missing", "wrong-type", "array-for-object", "bad-literal", "top-level-array"],
)
def test_dataclass_decoding_rejects_mismatches(payload: bytes) -> None:
    """JSON that does not fit the dataclass raises rather than building a half-valid object."""
    with pytest.raises((TypeError, ValueError)):
        DefaultSerde(Outer).deserialize(payload)


def test_dataclass_enum_field() -> None:
    """Enum fields are rebuilt from their JSON value."""
    assert DefaultSerde(WithEnum).deserialize(b'{"colour": "blue"}') == WithEnum(Colour.BLUE)


def test_dataclass_instance_serialized_without_hint() -> None:
    """An untyped DefaultSerde still encodes a dataclass instance as its fields."""
    assert DefaultSerde[Any]().serialize(Inner("z")) == b'{"name": "z", "weight": 1.0}'


def test_pydantic_round_trip() -> None:
    """PydanticJsonSerde and DefaultSerde(model) write model_dump_json and validate back."""
    person = Person(name="Ada", age=36)
    for serde in (PydanticJsonSerde(Person), DefaultSerde(Person)):
        buf = serde.serialize(person)
        assert buf == person.model_dump_json().encode()
        assert serde.deserialize(buf) == person


def test_pydantic_validation_error() -> None:
    """Pydantic validation failures surface as pydantic.ValidationError."""
    with pytest.raises(pydantic.ValidationError):
        PydanticJsonSerde(Person).deserialize(b'{"name": "Ada", "age": "old"}')


def test_msgspec_round_trip() -> None:
    """MsgspecJsonSerde and DefaultSerde(Struct) write msgspec's compact JSON and decode it."""
    point = Point(1, 2)
    for serde in (MsgspecJsonSerde(Point), DefaultSerde(Point)):
        buf = serde.serialize(point)
        assert buf == b'{"x":1,"y":2}'
        assert serde.deserialize(buf) == point


def test_msgspec_validation_error() -> None:
    """msgspec rejects JSON that does not match the Struct."""
    with pytest.raises(msgspec.ValidationError):
        MsgspecJsonSerde(Point).deserialize(b'{"x": 1}')


@pytest.mark.parametrize(
    ("hint", "kind", "model"),
    [
        (bytes, BytesSerde, None),
        (bytes | None, BytesSerde, None),
        (Person, PydanticJsonSerde, Person),
        (Person | None, PydanticJsonSerde, Person),
        (Annotated[Person, "doc"], PydanticJsonSerde, Person),
        (Point, MsgspecJsonSerde, Point),
        (Point | None, MsgspecJsonSerde, Point),
    ],
)
def test_serde_for_type_specialised(hint: Any, kind: type[Any], model: Any) -> None:
    """bytes, pydantic models and msgspec Structs (also Optional/Annotated) get their serde."""
    serde = serde_for_type(hint)
    assert type(serde) is kind
    if model is not None:
        assert serde.model is model  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (Inner, Inner),
        (Inner | None, Inner),
        (int, int),
        (list[int], list[int]),
        (None, None),
        (Any, None),
    ],
)
def test_serde_for_type_default(hint: Any, expected: Any) -> None:
    """Other hints get a DefaultSerde carrying the (Optional-stripped) hint; None/Any get none."""
    serde = serde_for_type(hint)
    assert type(serde) is DefaultSerde
    assert serde.type_hint == expected


def test_is_pydantic() -> None:
    """is_pydantic recognises model classes only, not instances or other types."""
    assert is_pydantic(Person)
    assert not is_pydantic(Person(name="a", age=1))
    assert not is_pydantic(Point)
    assert not is_pydantic(list[int])


def test_works_without_pydantic() -> None:
    """With pydantic unimportable the serde module imports, works, and never tries pydantic."""
    script = textwrap.dedent(
        """
        import dataclasses, sys
        sys.modules["pydantic"] = None  # makes `import pydantic` raise ImportError
        from wakeful.sdk.serde import DefaultSerde, is_pydantic, serde_for_type

        @dataclasses.dataclass
        class D:
            a: int

        serde = serde_for_type(D)
        assert type(serde) is DefaultSerde, serde
        assert serde.deserialize(serde.serialize(D(1))) == D(1)
        assert not is_pydantic(D)
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
