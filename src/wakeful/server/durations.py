"""Restate's duration syntax for `?delay=`: ISO 8601 (`PT1M30S`) or humantime (`90s`, `1m 30s`)."""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration_ms"]

_ISO = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_HUMAN_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zµ]+)", re.IGNORECASE)
_UNITS_MS = {
    "ms": 1, "msec": 1, "millis": 1, "millisecond": 1, "milliseconds": 1,
    "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
    "m": 60_000, "min": 60_000, "mins": 60_000, "minute": 60_000, "minutes": 60_000,
    "h": 3_600_000, "hr": 3_600_000, "hrs": 3_600_000, "hour": 3_600_000, "hours": 3_600_000,
    "d": 86_400_000, "day": 86_400_000, "days": 86_400_000,
}  # fmt: skip


def parse_duration_ms(text: str) -> int:
    """Milliseconds of a duration; ValueError if it is neither ISO 8601 nor humantime, or so
    long that it is not a finite number (the caller checks it against the latest storable
    time)."""
    text = text.strip()
    iso = _ISO.match(text)
    if iso is not None and text.upper() not in ("P", "PT"):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v is not None}
        seconds = (
            parts.get("d", 0) * 86400
            + parts.get("h", 0) * 3600
            + parts.get("m", 0) * 60
            + parts.get("s", 0)
        )
        return _finite_ms(seconds * 1000, text)
    pieces = _HUMAN_PART.findall(text)
    if not pieces or _HUMAN_PART.sub("", text).strip():
        raise ValueError(f"not a duration: {text!r}")
    total = 0.0
    for amount, unit in pieces:
        factor = _UNITS_MS.get(unit.lower())
        if factor is None:
            raise ValueError(f"unknown duration unit {unit!r}")
        total += float(amount) * factor
    return _finite_ms(total, text)


def _finite_ms(ms: float, text: str) -> int:
    if not math.isfinite(ms):
        raise ValueError(f"duration too long: {text[:40]!r}")
    return int(ms)
