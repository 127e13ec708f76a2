"""Handles: what a durable future waits for, and how an await is unblocked.

A handle names one notification of the current invocation: a completion (by the completion id
its command allocated) or a signal (by its index). Completion ids map to positive integers,
signal indexes to negative ones, so one dict of results serves both. Named signals, when they
come, map to their name (a `str`): the `Handle` type already allows it.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from wakeful.journal.entries import CompletionNotification, Notification

__all__ = ["Await", "Handle", "completion_handle", "handle_of", "signal_handle"]

Handle: TypeAlias = int | str


class Await(enum.Enum):
    """How a set of handles unblocks an await."""

    ANY = "any"
    ALL = "all"


def completion_handle(completion_id: int) -> int:
    """The handle of completion `completion_id`."""
    return completion_id


def signal_handle(index: int) -> int:
    """The handle of signal `index`."""
    return -index


def handle_of(notification: Notification) -> Handle:
    """The handle a notification completes."""
    if isinstance(notification, CompletionNotification):
        return notification.completion_id
    return -notification.index
