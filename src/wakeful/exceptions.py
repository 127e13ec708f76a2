"""`wakeful.exceptions` (as restate-sdk's `restate.exceptions`)."""

from wakeful.errors import (
    RetryableError,
    SdkInternalBaseException,
    SdkInternalException,
    SuspendedException,
    TerminalError,
    is_internal_exception,
)

__all__ = [
    "RetryableError",
    "SdkInternalBaseException",
    "SdkInternalException",
    "SuspendedException",
    "TerminalError",
    "is_internal_exception",
]
