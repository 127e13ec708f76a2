"""Handler-facing logging, silent while an attempt replays (restate-sdk's `restate.logging`)."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wakeful.vm.machine import ReplayMachine

__all__ = ["RestateLoggingFilter", "current_machine", "getLogger", "restate_context_is_replaying"]

current_machine: ContextVar[ReplayMachine | None] = ContextVar("wakeful_machine", default=None)


class _Replaying:
    """Reads like restate-sdk's `ContextVar[bool]`: whether the current attempt is replaying.

    The answer comes from the attempt's replay machine, so it is always current.
    """

    name = "restate_context_is_replaying"

    def get(self, default: bool = False) -> bool:
        """True while the handler of this task re-executes journaled commands."""
        machine = current_machine.get()
        return default if machine is None else machine.replaying


restate_context_is_replaying = _Replaying()


class RestateLoggingFilter(logging.Filter):
    """Drops records emitted while the current attempt is replaying its journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not super().filter(record):
            return False
        return not restate_context_is_replaying.get()


def getLogger(name: str | None = None) -> logging.Logger:
    """`logging.getLogger(name)` with the replay filter attached."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RestateLoggingFilter) for f in logger.filters):
        logger.addFilter(RestateLoggingFilter())
    return logger
