"""Handler I/O inference from signatures and type hints."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
import pydantic
import pytest

from wakeful.handler import update_handler_io_with_type_hints
from wakeful.retry_policy import InvocationRetryPolicy as FacadeRetryPolicy
from wakeful.sdk.handler_io import HandlerIO, infer_handler_io
from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.serde import (
    BytesSerde,
    DefaultSerde,
    JsonSerde,
    MsgspecJsonSerde,
    PydanticJsonSerde,
)

if TYPE_CHECKING:
    from not_a_real_module import Context  # type: ignore[import-not-found]


class Order(pydantic.BaseModel):
    item: str
    qty: int


class Point(msgspec.Struct):
    x: int
    y: int


@dataclasses.dataclass
class Line:
    start: Point2
    end: Point2


@dataclasses.dataclass
class Point2:
    x: int
    y: int


async def no_input(ctx: Any) -> None:
    """Handler with only a context."""


async def pydantic_io(ctx: Any, order: Order) -> Order:
    """Handler taking and returning a pydantic model."""
    return order


def test_arity_one_is_void() -> None:
    """`async def h(ctx) -> None` has arity 1, void types and default serdes."""
    io, arity = infer_handler_io(no_input)
    assert arity == 1
    assert io.input_type is None
    assert io.output_type is None
    assert type(io.input_serde) is DefaultSerde
    assert type(io.output_serde) is DefaultSerde
    assert (io.accept, io.content_type) == ("application/json", "application/json")


def test_pydantic_hints_from_string_annotations() -> None:
    """String annotations (from __future__) resolve and pick PydanticJsonSerde both ways."""
    assert isinstance(pydantic_io.__annotations__["order"], str)
    io, arity = infer_handler_io(pydantic_io)
    assert arity == 2
    assert io.input_type is Order
    assert io.output_type is Order
    assert isinstance(io.input_serde, PydanticJsonSerde)
    assert io.input_serde.model is Order
    assert io.input_serde.deserialize(b'{"item": "tea", "qty": 2}') == Order(item="tea", qty=2)
    assert isinstance(io.output_serde, PydanticJsonSerde)


def test_msgspec_and_optional() -> None:
    """A msgspec Struct input and an Optional Struct output both get MsgspecJsonSerde."""

    async def h(ctx: Any, p: Point) -> Point | None:
        return p

    io, _ = infer_handler_io(h)
    assert isinstance(io.input_serde, MsgspecJsonSerde)
    assert io.input_serde.model is Point
    assert isinstance(io.output_serde, MsgspecJsonSerde)
    assert io.output_serde.model is Point
    assert io.output_type == Point | None


def test_nested_dataclass_input_is_decoded() -> None:
    """A dataclass input gets a typed DefaultSerde that builds nested dataclasses."""

    async def h(ctx: Any, line: Line) -> list[Line]:
        return [line]

    io, _ = infer_handler_io(h)
    assert isinstance(io.input_serde, DefaultSerde)
    assert io.input_serde.type_hint is Line
    got = io.input_serde.deserialize(b'{"start": {"x": 1, "y": 2}, "end": {"x": 3, "y": 4}}')
    assert got == Line(Point2(1, 2), Point2(3, 4))
    assert io.output_type == list[Line]


def test_bytes_uses_bytes_serde_and_keeps_content_types() -> None:
    """bytes in/out get BytesSerde; accept/content_type stay as given, like restate-sdk."""

    async def h(ctx: Any, data: bytes) -> bytes:
        return data

    io, _ = infer_handler_io(h, accept="*/*", content_type="application/octet-stream")
    assert isinstance(io.input_serde, BytesSerde)
    assert isinstance(io.output_serde, BytesSerde)
    assert (io.accept, io.content_type) == ("*/*", "application/octet-stream")
    io, _ = infer_handler_io(h)
    assert (io.accept, io.content_type) == ("application/json", "application/json")


def test_unannotated_input_and_return() -> None:
    """No annotations: input type Any, output void, untyped DefaultSerde for both."""

    async def h(ctx, arg):  # type: ignore[no-untyped-def]
        return arg

    io, arity = infer_handler_io(h)
    assert arity == 2
    assert io.input_type is Any
    assert io.output_type is None
    assert isinstance(io.input_serde, DefaultSerde)
    assert io.input_serde.type_hint is None


def test_explicit_serde_wins() -> None:
    """An explicit serde (even a typed DefaultSerde) is kept over the inferred one."""
    json_serde = JsonSerde[Any]()
    typed = DefaultSerde(dict)
    io, _ = infer_handler_io(pydantic_io, input_serde=json_serde, output_serde=typed)
    assert io.input_serde is json_serde
    assert io.output_serde is typed


def test_untyped_default_serde_is_replaced() -> None:
    """The decorator default DefaultSerde() counts as 'not given' and is inferred over."""
    io, _ = infer_handler_io(pydantic_io, input_serde=DefaultSerde(), output_serde=DefaultSerde())
    assert isinstance(io.input_serde, PydanticJsonSerde)
    assert isinstance(io.output_serde, PydanticJsonSerde)


def test_unresolvable_context_annotation_is_ignored() -> None:
    """A ctx annotation imported only under TYPE_CHECKING does not break inference."""

    async def h(ctx: Context, order: Order) -> None:
        return None

    io, _ = infer_handler_io(h)
    assert io.input_type is Order


def test_unresolvable_input_annotation_raises() -> None:
    """An input annotation naming an unknown type is a TypeError naming the handler."""

    async def broken_handler(ctx: Any, x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(TypeError, match="broken_handler"):
        infer_handler_io(broken_handler)


def test_wrapped_handler_resolves_through_wraps() -> None:
    """A handler behind a functools.wraps async decorator is inferred from the original."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        async def wrapper(*args: Any) -> Any:
            return await fn(*args)

        return wrapper

    io, arity = infer_handler_io(deco(pydantic_io))
    assert arity == 2
    assert isinstance(io.input_serde, PydanticJsonSerde)


async def zero() -> None:
    """No parameters at all."""


async def three(ctx: Any, a: int, b: int) -> None:
    """Too many parameters."""


async def kw_only(ctx: Any, *, a: int) -> None:
    """Input is keyword-only."""


async def var_args(ctx: Any, *args: Any) -> None:
    """Input is *args."""


@pytest.mark.parametrize("fn", [zero, three, kw_only, var_args], ids=lambda f: f.__name__)
def test_bad_arity_raises(fn: Callable[..., Any]) -> None:
    """Handlers must take (ctx) or (ctx, input) positionally; the error names the function."""
    with pytest.raises(TypeError, match=fn.__name__):
        infer_handler_io(fn)


def test_sync_function_raises() -> None:
    """A plain `def` handler is a TypeError naming it."""

    def sync_handler(ctx: Any) -> None:
        return None

    with pytest.raises(TypeError, match=r"sync_handler.*async def"):
        infer_handler_io(sync_handler)


def test_update_handler_io_with_type_hints_picks_serdes() -> None:
    """restate-sdk's `update_handler_io_with_type_hints` sets the types and the serdes they
    call for, keeping a serde the user chose."""
    io = HandlerIO("application/json", "application/json", DefaultSerde(), BytesSerde())
    update_handler_io_with_type_hints(io, inspect.signature(pydantic_io, eval_str=True))
    assert io.input_type is Order
    assert isinstance(io.input_serde, PydanticJsonSerde)
    assert isinstance(io.output_serde, BytesSerde)


def test_retry_policy_defaults_and_facade() -> None:
    """InvocationRetryPolicy defaults every field to None (server default); facade is the same."""
    policy = InvocationRetryPolicy()
    assert dataclasses.astuple(policy) == (None, None, None, None, None)
    assert FacadeRetryPolicy is InvocationRetryPolicy
    assert InvocationRetryPolicy(max_attempts=3, on_max_attempts="kill").on_max_attempts == "kill"
