"""The one error hierarchy of wakeful.

```
Exception
├── TerminalError(message, status_code=500, metadata=None)   ends an invocation with a failure
├── RetryableError(message, status_code=500, retry_after)    fails the attempt; retried after
└── WakefulError                                             wakeful's own usage/runtime errors
    ├── InvalidIdError                                       malformed invocation/awakeable id
    ├── NotFoundError                                        unknown service, handler or id
    └── EngineUnavailableError (HTTP 503)                    an event could not be made durable
NotImplementedError                                          an SDK feature not built yet

BaseException
└── SdkInternalBaseException                  control flow the user's `except Exception` must
    ├── SuspendedException                    not swallow: the attempt suspends or is aborted
    ├── AttemptAbortedException
    └── VMError(code)                         the replay machine failed the attempt (latched:
        ├── JournalMismatchError (570)        every later context call raises it again, and
        └── ProtocolViolationError (571)      the attempt fails with its code, caught or not)
```

Any exception raised by a handler that is not a `TerminalError` fails the attempt; the engine
retries it with the invocation retry policy.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "AttemptAbortedException",
    "EngineUnavailableError",
    "InvalidIdError",
    "JournalMismatchError",
    "NotFoundError",
    "ProtocolViolationError",
    "RetryableError",
    "SdkInternalBaseException",
    "SuspendedException",
    "TerminalError",
    "VMError",
    "WakefulError",
    "is_internal_exception",
]

JOURNAL_MISMATCH = 570
PROTOCOL_VIOLATION = 571


class TerminalError(Exception):
    """A failure that is final: not retried, recorded as the invocation's (or step's) result.

    >>> raise TerminalError("order not found", status_code=404)
    """

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.metadata = metadata


class RetryableError(Exception):
    """A failure that should be retried, optionally after `retry_after`."""

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


class WakefulError(Exception):
    """Base class of wakeful's own errors (bad usage, bad ids, replay divergence)."""


class InvalidIdError(WakefulError, ValueError):
    """An invocation id or awakeable id that cannot be decoded."""


class NotFoundError(WakefulError, LookupError):
    """An unknown service, handler, invocation or workflow."""


class EngineUnavailableError(WakefulError):
    """The partition could not make an event durable (e.g. a full disk); nothing of it was
    stored, and the request may be retried."""


class SdkInternalBaseException(BaseException):
    """Internal control flow; a handler must let it propagate."""

    def __init__(self, message: str = "internal control flow of the wakeful SDK") -> None:
        super().__init__(message)


class SuspendedException(SdkInternalBaseException):
    """Raised into a handler's await when its attempt suspends."""

    def __init__(self) -> None:
        super().__init__("the invocation suspended; do not catch this exception")


class AttemptAbortedException(SdkInternalBaseException):
    """Raised into a handler when its attempt is aborted (killed, fenced, shut down)."""

    def __init__(self) -> None:
        super().__init__("the attempt was aborted; do not catch this exception")


class VMError(SdkInternalBaseException):
    """The replay machine failed the attempt; the attempt fails with `code`, whatever was caught."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JournalMismatchError(VMError):
    """Replay diverged: the handler did something other than what the journal recorded."""

    code = JOURNAL_MISMATCH

    def __init__(
        self,
        handler: str,
        index: int,
        expected: str,
        actual: str,
        invocation_id: str = "",
        differences: tuple[str, ...] = (),
    ) -> None:
        where = f"{handler} ({invocation_id})" if invocation_id else handler
        lines = [
            f"journal mismatch in {where} at command index {index}: "
            f"the journal recorded {expected}, but the handler did {actual}",
            *(f"  {line}" for line in differences),
        ]
        super().__init__("\n".join(lines))
        self.invocation_id = invocation_id
        self.handler = handler
        self.index = index
        self.expected = expected
        self.actual = actual
        self.differences = differences


class ProtocolViolationError(VMError):
    """The attempt was driven in a way the replay machine does not allow (e.g. a bad journal)."""

    code = PROTOCOL_VIOLATION


def is_internal_exception(e: BaseException) -> bool:
    """True if `e` is wakeful's internal control flow (to be re-raised by user code)."""
    return isinstance(e, SdkInternalBaseException)
