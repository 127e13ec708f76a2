"""Working out a handler's input/output serdes and types from its signature."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wakeful.sdk.serde import DefaultSerde, Serde, serde_for_type

__all__ = ["HandlerIO", "infer_handler_io"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass
class HandlerIO:
    """How a handler's input and output travel on the wire.

    `input_type` is the resolved hint of the input parameter (`typing.Any` when unannotated,
    None when the handler takes no input); `output_type` is the resolved return hint, None
    when the handler returns nothing or has no return annotation (restate-sdk treats both as
    void).
    """

    accept: str
    content_type: str
    input_serde: Serde[Any]
    output_serde: Serde[Any]
    input_type: Any = None
    output_type: Any = None


def infer_handler_io(
    fn: Callable[..., Any],
    *,
    accept: str = "application/json",
    content_type: str = "application/json",
    input_serde: Serde[Any] | None = None,
    output_serde: Serde[Any] | None = None,
) -> tuple[HandlerIO, int]:
    """Build the HandlerIO of handler `fn` and return it with the arity (1 or 2).

    A serde given explicitly wins; None or an untyped `DefaultSerde()` (the decorator
    default) is replaced by the serde `serde_for_type` picks from the type hint. `accept` and
    `content_type` are used as given, whatever the types (as restate-sdk does).
    """
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"handler {name} must be an 'async def' function")
    params = list(inspect.signature(fn).parameters.values())
    if len(params) not in (1, 2) or any(p.kind not in _POSITIONAL for p in params):
        raise TypeError(
            f"handler {name} must take (ctx) or (ctx, input) as positional parameters, "
            f"got ({', '.join(str(p) for p in params)})"
        )
    arity = len(params)
    wanted = ["return"] if arity == 1 else [params[1].name, "return"]
    hints = _resolve_hints(fn, name, wanted)

    input_type = hints.get(params[1].name, Any) if arity == 2 else None
    output_type = hints.get("return")
    if output_type is type(None):
        output_type = None

    io = HandlerIO(
        accept=accept,
        content_type=content_type,
        input_serde=_pick(input_serde, input_type),
        output_serde=_pick(output_serde, output_type),
        input_type=input_type,
        output_type=output_type,
    )
    return io, arity


def _pick(explicit: Serde[Any] | None, hint: Any) -> Serde[Any]:
    """The user's serde, unless it is absent or the decorator's untyped default."""
    if explicit is None or (isinstance(explicit, DefaultSerde) and explicit.type_hint is None):
        return serde_for_type(hint)
    return explicit


def _resolve_hints(fn: Callable[..., Any], name: str, wanted: list[str]) -> dict[str, Any]:
    """Resolve only the annotations in `wanted`, so an annotation that cannot be evaluated
    elsewhere in the signature (say a `ctx: Context` imported under TYPE_CHECKING) is harmless.
    """
    annotations = inspect.get_annotations(fn)
    globalns = getattr(inspect.unwrap(fn), "__globals__", {})
    subset = {key: annotations[key] for key in wanted if key in annotations}
    try:
        return typing.get_type_hints(types.SimpleNamespace(__annotations__=subset), globalns)
    except Exception as exc:  # NameError for unknown names, SyntaxError/TypeError for bad ones
        raise TypeError(f"cannot resolve the type hints of handler {name}: {exc}") from exc
