"""Durable futures: results that live in the journal, awaited through the attempt's pump."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from wakeful.errors import TerminalError
from wakeful.sdk.context import (
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    SendHandle,
)
from wakeful.sdk.serde import Serde
from wakeful.vm.handles import Handle
from wakeful.vm.pump import AttemptPump

__all__ = [
    "DurableCallFuture",
    "DurableFuture",
    "DurableSendHandle",
    "DurableSleepFuture",
    "Ready",
]

T = TypeVar("T")


class DurableFuture(RestateDurableFuture[T]):
    """A future on a completion or signal of the current invocation."""

    def __init__(self, pump: AttemptPump, handle: Handle, serde: Serde[T]) -> None:
        self.pump = pump
        self.handle = handle
        self.serde = serde

    def __await__(self) -> Generator[Any, Any, T]:
        return self._value().__await__()

    async def _value(self) -> T:
        await self.pump.wait_for([self.handle])
        return self.value_now()

    def value_now(self) -> T:
        """The result of a completed future (raises TerminalError for a failure)."""
        result = self.pump.machine.results[self.handle]
        if result.failure is not None:
            failure = result.failure
            raise TerminalError(failure.message, failure.code, failure.metadata)
        return self.serde.deserialize(result.value or b"")  # type: ignore[return-value]


class DurableSleepFuture(DurableFuture[None], RestateDurableSleepFuture):
    """A durable timer."""

    def __await__(self) -> Generator[Any, Any, None]:
        return self._value().__await__()


class DurableCallFuture(DurableFuture[T], RestateDurableCallFuture[T]):
    """The result of a call to another handler, with the callee's id."""

    def __init__(
        self,
        pump: AttemptPump,
        handle: Handle,
        serde: Serde[T],
        callee: str,
        cancel: Callable[[str], None],
    ) -> None:
        super().__init__(pump, handle, serde)
        self._callee = callee
        self._cancel = cancel

    def __await__(self) -> Generator[Any, Any, T]:
        return self._value().__await__()

    async def invocation_id(self) -> str:
        return self._callee

    async def cancel_invocation(self) -> None:
        self._cancel(self._callee)


class DurableSendHandle(SendHandle):
    """A handle on a one-way call."""

    def __init__(self, callee: str, cancel: Callable[[str], None]) -> None:
        self._callee = callee
        self._cancel = cancel

    async def invocation_id(self) -> str:
        return self._callee

    async def cancel_invocation(self) -> None:
        self._cancel(self._callee)


class Ready(Awaitable[T]):
    """An awaitable whose value is already known (no coroutine: nothing to forget awaiting)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, T]:
        return self.value
        yield  # a generator that returns at once
