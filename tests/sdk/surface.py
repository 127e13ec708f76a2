"""Compare the public surface of restate-sdk's `restate` package with wakeful's, via `inspect`.

A surface is: the public names of a module, the public methods and annotated attributes of its
classes, and the parameters (name, kind, whether there is a default, simple default values) and
sync/async flavour of its functions and methods.
"""

from __future__ import annotations

import abc
import contextvars
import dataclasses
import importlib
import inspect
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any, ParamSpec

__all__ = ["MODULES", "differences"]

# restate-sdk module -> the wakeful module that must offer the same surface.
MODULES = {
    "restate": "wakeful",
    "restate.asyncio": "wakeful.asyncio",
    "restate.aws_lambda": "wakeful.aws_lambda",
    "restate.client": "wakeful.client",
    "restate.client_types": "wakeful.client_types",
    "restate.connection": "wakeful.connection",
    "restate.context": "wakeful.context",
    "restate.context_managers": "wakeful.context_managers",
    "restate.endpoint": "wakeful.endpoint",
    "restate.entry_codec": "wakeful.entry_codec",
    "restate.exceptions": "wakeful.exceptions",
    "restate.ext.turnstile": "wakeful.ext.turnstile",
    "restate.extensions": "wakeful.extensions",
    "restate.handler": "wakeful.handler",
    "restate.logging": "wakeful.logging",
    "restate.object": "wakeful.object",
    "restate.retry_policy": "wakeful.retry_policy",
    "restate.serde": "wakeful.serde",
    "restate.service": "wakeful.service",
    "restate.types": "wakeful.types",
    "restate.workflow": "wakeful.workflow",
}

# Dunder methods that are part of a class's surface (others come from object/Exception).
_DUNDERS = {
    "__init__",
    "__call__",
    "__await__",
    "__aiter__",
    "__anext__",
    "__aenter__",
    "__aexit__",
}
_HARNESS = {"create_test_harness", "test_harness"}
_SIMPLE = (type(None), bool, int, float, str)
_BASES = (object, Exception, BaseException, typing.Generic, abc.ABC)  # type: ignore[arg-type]  # Generic is a special form


def public_names(module: ModuleType) -> list[str]:
    """`__all__`, else the names defined in the module itself (classes, functions, context vars)."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return sorted(declared)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, ModuleType | typing.TypeVar | ParamSpec):
            continue
        if getattr(value, "__module__", None) == module.__name__ or isinstance(
            value, contextvars.ContextVar
        ):
            names.append(name)
    return sorted(names)


def _inherited_from_base(cls: type, name: str) -> bool:
    owner = next((k for k in cls.__mro__ if name in vars(k)), None)
    return owner in _BASES


def class_members(cls: type) -> list[str]:
    """Public methods and attributes of a class (its own and inherited from its package)."""
    members = set()
    for name in dir(cls):
        if (name.startswith("_") and name not in _DUNDERS) or _inherited_from_base(cls, name):
            continue
        members.add(name)
    for klass in cls.__mro__:
        if klass not in _BASES:
            members.update(n for n in getattr(klass, "__annotations__", {}) if n[0] != "_")
    if dataclasses.is_dataclass(cls):
        members.update(f.name for f in dataclasses.fields(cls))
    return sorted(members)


def _signature(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _params(sig: inspect.Signature) -> list[str]:
    """Each parameter as text: `name`, `name=` (a default), `name=value` (a simple default),
    `*name`, `**name`, with `/` and `*` markers for positional-only and keyword-only ones."""
    found = []
    for p in sig.parameters.values():
        if p.name in {"self", "cls"}:
            continue
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.default is not p.empty:
            text += "=" + (repr(p.default) if isinstance(p.default, _SIMPLE) else "")
        marker = {p.POSITIONAL_ONLY: "/", p.KEYWORD_ONLY: "*"}.get(p.kind, "")
        found.append(marker + text)
    return found


def _is_extra_option(param: str) -> bool:
    return param.startswith("*") and not param.startswith("**") and "=" in param


def _flavour(fn: Any) -> str:
    fn = inspect.unwrap(fn)
    if inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isasyncgenfunction(fn):
        return "async generator"
    return "sync"


def compare_callables(where: str, theirs: Any, ours: Any) -> Iterator[str]:
    """Differences between two functions' parameters and flavour."""
    if isinstance(theirs, property) or isinstance(ours, property):
        if isinstance(theirs, property) != isinstance(ours, property):
            yield f"{where}: property in one and not in the other"
        return
    their_sig, our_sig = _signature(theirs), _signature(ours)
    if their_sig is None or our_sig is None:
        return
    their_params, our_params = _params(their_sig), _params(our_sig)
    # wakeful may add options of its own after restate's: keyword-only, with a default.
    while len(our_params) > len(their_params) and _is_extra_option(our_params[-1]):
        our_params.pop()
    if their_params != our_params:
        theirs_text, ours_text = ", ".join(their_params), ", ".join(_params(our_sig))
        yield f"{where}: restate ({theirs_text}) != wakeful ({ours_text})"
    # restate-sdk replaces its harness by a plain function when its optional extra is missing.
    if _flavour(theirs) != _flavour(ours) and theirs.__name__ not in _HARNESS:
        yield f"{where}: {_flavour(theirs)} in restate, {_flavour(ours)} in wakeful"


def compare_classes(where: str, theirs: type, ours: Any) -> Iterator[str]:
    """Differences between two classes' members."""
    if not inspect.isclass(ours):
        yield f"{where}: a class in restate, {type(ours).__name__} in wakeful"
        return
    for member in class_members(theirs):
        if not hasattr(ours, member) and member not in class_members(ours):
            yield f"{where}.{member}: missing"
            continue
        their_value = inspect.getattr_static(theirs, member, None)
        our_value = inspect.getattr_static(ours, member, None)
        if callable(their_value) or isinstance(their_value, property | staticmethod):
            yield from compare_callables(
                f"{where}.{member}", getattr(theirs, member), getattr(ours, member, our_value)
            )


def differences(restate_module: str, wakeful_module: str) -> list[str]:
    """Each public name, member or parameter of `restate_module` that wakeful lacks or changes."""
    theirs = importlib.import_module(restate_module)
    try:
        ours = importlib.import_module(wakeful_module)
    except ImportError as e:
        return [f"{wakeful_module}: cannot import ({e})"]
    found: list[str] = []
    for name in public_names(theirs):
        where = f"{wakeful_module}.{name}"
        if not hasattr(ours, name):
            found.append(f"{where}: missing")
            continue
        their_value, our_value = getattr(theirs, name), getattr(ours, name)
        if inspect.isclass(their_value):
            found.extend(compare_classes(where, their_value, our_value))
        elif callable(their_value) and not isinstance(their_value, type):
            if not callable(our_value):
                found.append(f"{where}: callable in restate only")
            else:
                found.extend(compare_callables(where, their_value, our_value))
    return found
