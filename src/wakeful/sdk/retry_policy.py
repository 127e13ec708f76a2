"""Per-handler invocation retry policy (restate-sdk's `InvocationRetryPolicy`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

__all__ = ["InvocationRetryPolicy"]


@dataclass(frozen=True)
class InvocationRetryPolicy:
    """How failed attempts of a handler are retried; a None field means the server default.

    The delay before retry n is `initial_interval * exponentiation_factor ** (n - 1)`, capped
    at `max_interval`. `max_attempts` counts the first call; once reached the invocation is
    paused or killed as `on_max_attempts` says.
    """

    initial_interval: timedelta | None = None
    exponentiation_factor: float | None = None
    max_interval: timedelta | None = None
    max_attempts: int | None = None
    on_max_attempts: Literal["pause", "kill"] | None = None
