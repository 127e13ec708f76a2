"""Scopes and limit keys (Restate 1.7's flow control): validation and scoped identities.

A scope is part of an invocation target's identity: the same virtual object, workflow or
idempotency key in two scopes are two different things. Inside the engine a scoped keyed target
carries its scope in the key (`scoped_key`), so locks, state, inboxes and durable promises are
per scope without the engine knowing about scopes; `split_key` gives the user's key back.

A limit key (`"a"` or `"a/b"`) labels an invocation for concurrency limits and is not part of
its identity.
"""

from __future__ import annotations

import re

__all__ = [
    "SCOPE_SEPARATOR",
    "check_limit_key",
    "check_scope",
    "scoped_key",
    "split_key",
]

# No scope character can be this, and a user key starting with it is refused at the edge.
SCOPE_SEPARATOR = "\x1f"
_COMPONENT = re.compile(r"[A-Za-z0-9_.\-]{1,36}")


def check_scope(scope: str) -> str:
    """`scope` if it is 1 to 36 characters of `[A-Za-z0-9_.-]`, else ValueError."""
    if not isinstance(scope, str) or not _COMPONENT.fullmatch(scope):
        raise ValueError(
            f"invalid scope {scope!r}: 1 to 36 characters, letters, digits, '_', '.' or '-'"
        )
    return scope


def check_limit_key(limit_key: str, scope: str | None) -> str:
    """`limit_key` if it has one or two `/`-separated valid components and a scope is set."""
    if scope is None:
        raise ValueError("a limit key needs a scope (use ctx.scope(...) or pass scope=)")
    parts = limit_key.split("/") if isinstance(limit_key, str) else [""]
    if len(parts) > 2 or not all(_COMPONENT.fullmatch(p) for p in parts):
        raise ValueError(
            f"invalid limit key {limit_key!r}: one or two '/'-separated components of 1 to 36 "
            "letters, digits, '_', '.' or '-'"
        )
    return limit_key


def scoped_key(scope: str | None, key: str) -> str:
    """The engine's key of object/workflow `key` in `scope` (the key itself when unscoped)."""
    return key if scope is None else f"{SCOPE_SEPARATOR}{scope}{SCOPE_SEPARATOR}{key}"


def split_key(engine_key: str) -> tuple[str | None, str]:
    """`(scope, key)` of an engine key made by `scoped_key`."""
    if engine_key.startswith(SCOPE_SEPARATOR):
        scope, sep, key = engine_key[1:].partition(SCOPE_SEPARATOR)
        if sep:
            return scope, key
    return None, engine_key
