"""`wakeful.types` (as restate-sdk's `restate.types`)."""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from wakeful.testing.harness import HarnessEnvironment

__all__ = ["HarnessEnvironment", "extract_core_type"]


def __getattr__(name: str) -> Any:
    # The harness brings the whole server with it: load it only when asked for.
    if name == "HarnessEnvironment":
        from wakeful.testing.harness import HarnessEnvironment

        return HarnessEnvironment
    raise AttributeError(f"module 'wakeful.types' has no attribute {name!r}")


def extract_core_type(annotation: Any) -> tuple[Literal["optional", "simple"], Any]:
    """`("optional", T)` for `T | None` / `Optional[T]`, else `("simple", annotation)`."""
    if annotation is None:
        return "simple", annotation
    args = typing.get_args(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    if is_union and len(args) == 2 and type(None) in args:
        return "optional", args[0] if args[1] is type(None) else args[1]
    return "simple", annotation
