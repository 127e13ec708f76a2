"""Handler-facing logging, silent while an attempt replays (restate-sdk's `restate.logging`)."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wakeful.vm.machine import ReplayMachine

__all__ = ["RestateLoggingFilter", "current_machine", "getLogger"]

current_machine: ContextVar[ReplayMachine | None] = ContextVar("wakeful_machine", default=None)


class RestateLoggingFilter(logging.Filter):
    """Drops records emitted while the current attempt is replaying its journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not super().filter(record):
            return False
        machine = current_machine.get()
        return machine is None or not machine.replaying


def getLogger(name: str | None = None) -> logging.Logger:
    """`logging.getLogger(name)` with the replay filter attached."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RestateLoggingFilter) for f in logger.filters):
        logger.addFilter(RestateLoggingFilter())
    return logger
