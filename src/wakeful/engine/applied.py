"""What applying an event produced (`Applied`) and the per-target settings the engine reads.

Kept apart from `engine.machine` so that the modules the machine delegates to (`commands`,
`keyed`) can use them without importing the machine back.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from wakeful.engine.effects import Effect
from wakeful.engine.events import Event, InvokeOutcome, LookupOutcome
from wakeful.engine.model import HandlerKind, RetryPolicy, Target
from wakeful.engine.waits import SignalOutcome

__all__ = ["DAY_MS", "Applied", "EngineConfig"]

DAY_MS = 24 * 60 * 60 * 1000


def _default_policy(_: Target) -> RetryPolicy:
    return RetryPolicy()


def _default_retention(_: Target, __: HandlerKind) -> int:
    return DAY_MS


def _any_kind(_: Target) -> HandlerKind | None:
    return HandlerKind.SERVICE


def _tracked(_: Target) -> bool:
    return True


class EngineConfig(msgspec.Struct, frozen=True):
    """Per-target settings the engine consults (resolved by the runtime from the app)."""

    retry_policy: Callable[[Target], RetryPolicy] = _default_policy
    completion_retention_ms: Callable[[Target, HandlerKind], int] = _default_retention
    handler_kind: Callable[[Target], HandlerKind | None] = _any_kind
    # Whether the handler journals the awakeables it creates (in-process handlers do), so a
    # completion of any other signal index can be refused.
    tracks_awakeables: Callable[[Target], bool] = _tracked


class Applied(msgspec.Struct):
    """What applying one event produced.

    `follow_ups` are applied right after the event, in the same batch; `deferred` ones are
    submitted again after the batch commits (they need state the batch could not load).
    """

    outcome: InvokeOutcome | LookupOutcome | SignalOutcome | bool | None = None
    effects: list[Effect] = msgspec.field(default_factory=list)
    follow_ups: list[Event] = msgspec.field(default_factory=list)
    deferred: list[Event] = msgspec.field(default_factory=list)
