"""The context of the handler running in the current task, for extensions and integrations."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

from typing_extensions import ParamSpec

from wakeful.sdk.context import Context

__all__ = ["context_var", "contextvar", "current_context"]

P = ParamSpec("P")
T = TypeVar("T")

context_var: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "wakeful_context", default=None
)


def current_context() -> Context | None:
    """The context of the handler running in this task, or None outside a handler."""
    return context_var.get()


class contextvar(Generic[P, T]):
    """Wraps an async context manager factory so its yielded value is readable as `.value`.

    Invocation context managers must yield None; this keeps the value reachable:

    >>> @contextvar
    ... @asynccontextmanager
    ... async def session() -> AsyncIterator[Session]:
    ...     async with open_session() as s:
    ...         yield s
    >>> svc = Service("S", invocation_context_managers=[session])
    >>> session.value  # inside a handler of svc
    """

    def __init__(self, func: Callable[P, AbstractAsyncContextManager[T]]) -> None:
        self.func = func
        self._value_var: contextvars.ContextVar[T | None] = contextvars.ContextVar("value")

    @property
    def value(self) -> T:
        """The value the wrapped context manager yielded (inside its `async with` only)."""
        value = self._value_var.get(None)
        if value is None:
            raise LookupError("the context manager's value is read outside of its scope")
        return value

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def wrapper() -> AsyncGenerator[None, Any]:
            async with self.func(*args, **kwargs) as value:
                token = self._value_var.set(value)
                try:
                    yield
                finally:
                    self._value_var.reset(token)

        return wrapper()
