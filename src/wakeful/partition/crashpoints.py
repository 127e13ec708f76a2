"""Named crash points for crash tests: the process kills itself (SIGKILL) at a chosen point.

`WAKEFUL_CRASH_AT=<point>[:<n>]` arms the point; the n-th time (default 1) the leader reaches
it, the process dies as if the machine lost power. Points, in the order a batch meets them:

- `before_commit`: the batch's changes are computed but not written;
- `after_commit_before_answer`: durable, but no caller has been answered;
- `after_answer_before_effects`: callers answered, attempts not started yet.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "POINTS", "CrashPoint"]

ENV = "WAKEFUL_CRASH_AT"
POINTS = ("before_commit", "after_commit_before_answer", "after_answer_before_effects")


class CrashPoint:
    """One armed point and how many more times it may be passed."""

    def __init__(self, name: str, count: int = 1) -> None:
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown crash point {name!r}, expected one of {POINTS}")
        if count < 1:
            raise ValueError(f"{ENV}: the count must be at least 1, got {count}")
        self.name = name
        self.remaining = count

    @classmethod
    def from_env(cls) -> CrashPoint | None:
        """The point armed by the environment, or None (the normal case)."""
        spec = os.environ.get(ENV)
        if not spec:
            return None
        name, _, count = spec.partition(":")
        try:
            return cls(name, int(count) if count else 1)
        except ValueError as e:
            raise ValueError(f"{ENV}={spec!r}: {e}") from e

    def reached(self, name: str) -> None:
        """Die here if this is the armed point and its count is used up."""
        if name != self.name:
            return
        self.remaining -= 1
        if self.remaining <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
