"""Bounds every stored time and count must respect, checked where values enter the system.

Times are milliseconds since the Unix epoch. The latest one that can be stored is the last
millisecond of year 9999: RFC 3339 (the `executionTime` and `idempotency-expires` answers)
has four-digit years, and it keeps every timer well inside a signed 64-bit column.
"""

from __future__ import annotations

__all__ = ["MAX_TIMESTAMP_MS", "latest_time_error"]

MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def latest_time_error(now_ms: int, delay_ms: int | float) -> str | None:
    """None if `now_ms + delay_ms` can be stored, else why it cannot."""
    if delay_ms != delay_ms or delay_ms < 0:  # NaN, or a negative delay
        return f"the delay must be a positive duration, got {delay_ms} ms"
    if now_ms + delay_ms > MAX_TIMESTAMP_MS:
        return (
            f"the delay of {_days(delay_ms)} days is too long: the time it ends must not be "
            "after 9999-12-31T23:59:59.999Z"
        )
    return None


def _days(delay_ms: int | float) -> str:
    days = delay_ms / 86_400_000
    return f"{days:.0f}" if days < 1e15 else f"{days:.3g}"
