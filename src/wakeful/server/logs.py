"""Server logging: text or JSON lines on stderr, every record tagged with its invocation id."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from wakeful.logging import current_machine

__all__ = ["InvocationFilter", "JsonFormatter", "configure_logging"]

_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(invocation_suffix)s"

# Attributes every LogRecord has; anything else on a record came from `extra=` and goes to JSON.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "invocation_id",
    "invocation_suffix",
}


class InvocationFilter(logging.Filter):
    """Adds `invocation_id` (from the running attempt, or from `extra=`) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        iid = getattr(record, "invocation_id", None)
        if iid is None:
            machine = current_machine.get()
            iid = getattr(machine, "invocation_id", None) or None
            record.invocation_id = iid
        record.invocation_suffix = f" [{iid}]" if iid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, invocation_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        iid = getattr(record, "invocation_id", None)
        if iid:
            out["invocation_id"] = iid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text", access_log: bool = False) -> None:
    """Send every log record to stderr in `fmt` ("text" or "json") at `level` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(InvocationFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn announces each of the two servers ("Started server process", "Uvicorn running
    # on …") and wakeful already logs one line naming both addresses: keep its warnings only.
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO if access_log else logging.CRITICAL + 1)
