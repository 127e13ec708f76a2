"""Contexts of virtual object and workflow handlers: durable state per key, durable promises."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from wakeful.journal.entries import (
    ClearAllStateCommand,
    ClearStateCommand,
    CompletePromiseCommand,
    Failure,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    PeekPromiseCommand,
    Result,
    SetStateCommand,
)
from wakeful.sdk.attempt_context import AttemptContext
from wakeful.sdk.context import (
    DurablePromise,
    ObjectContext,
    ObjectSharedContext,
    RestateDurableFuture,
    WorkflowContext,
    WorkflowSharedContext,
)
from wakeful.sdk.futures import DurableFuture, resolved
from wakeful.sdk.serde import DefaultSerde, Serde
from wakeful.vm.machine import AttemptMachine, completion_handle

__all__ = [
    "ObjectAttemptContext",
    "ObjectSharedAttemptContext",
    "WorkflowAttemptContext",
    "WorkflowSharedAttemptContext",
]

T = TypeVar("T")


class _KeyedMixin:
    """State of the invocation's key: read from the attempt's snapshot, writes journaled."""

    machine: AttemptMachine
    _key: str
    _state: dict[str, bytes]
    _writes_state: bool

    def key(self) -> str:
        """The object or workflow key."""
        return self._key

    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> Awaitable[T | None]:
        """The value stored under `name`, or None (recorded, so a replay reads the same)."""
        value = self._state.get(name)
        recorded = self.machine.command(GetStateCommand(name, value))
        if isinstance(recorded, GetStateCommand):
            value = recorded.value
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return resolved(None if value is None else serde.deserialize(value))

    def state_keys(self) -> Awaitable[list[str]]:
        """The names of all stored values."""
        keys = sorted(self._state)
        recorded = self.machine.command(GetStateKeysCommand(keys))
        if isinstance(recorded, GetStateKeysCommand):
            keys = list(recorded.keys)
        return resolved(keys)

    def _check_writable(self, operation: str) -> None:
        if not self._writes_state:
            raise TypeError(f"ctx.{operation} is not available in a shared handler (read-only)")

    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde()) -> None:  # noqa: B008
        """Store `value` under `name`."""
        self._check_writable("set")
        data = serde.serialize(value)
        self.machine.command(SetStateCommand(name, data))
        self._state[name] = data

    def clear(self, name: str) -> None:
        """Delete the value stored under `name`."""
        self._check_writable("clear")
        self.machine.command(ClearStateCommand(name))
        self._state.pop(name, None)

    def clear_all(self) -> None:
        """Delete every stored value of this key."""
        self._check_writable("clear_all")
        self.machine.command(ClearAllStateCommand())
        self._state.clear()


class _NoneSerde(Serde[None]):
    def deserialize(self, buf: bytes) -> None:
        return None

    def serialize(self, obj: None) -> bytes:
        return b""


class AttemptPromise(DurablePromise[T]):
    """A workflow's durable promise, as seen from one attempt."""

    def __init__(self, machine: AttemptMachine, name: str, serde: Serde[T]) -> None:
        super().__init__(name, serde)
        self.machine = machine

    def value(self) -> RestateDurableFuture[T]:
        cid = self.machine.allocate_completion_id()
        self.machine.command(GetPromiseCommand(self.name, cid))
        return DurableFuture(self.machine, completion_handle(cid), self.serde)

    def peek(self) -> Awaitable[T | None]:
        cid = self.machine.allocate_completion_id()
        self.machine.command(PeekPromiseCommand(self.name, cid))
        future: DurableFuture[Any] = DurableFuture(self.machine, completion_handle(cid), self.serde)
        return future

    def _complete(self, result: Result) -> Awaitable[None]:
        cid = self.machine.allocate_completion_id()
        self.machine.command(CompletePromiseCommand(self.name, result, cid))
        return DurableFuture(self.machine, completion_handle(cid), _NoneSerde())

    def resolve(self, value: T) -> Awaitable[None]:
        return self._complete(Result(value=self.serde.serialize(value)))

    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        return self._complete(Result(failure=Failure(code, message)))


class _PromiseMixin:
    machine: AttemptMachine

    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> DurablePromise[T]:
        """The workflow's durable promise called `name`."""
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return AttemptPromise(self.machine, name, serde)


class ObjectAttemptContext(_KeyedMixin, AttemptContext, ObjectContext):
    """Context of an exclusive virtual object handler."""


class ObjectSharedAttemptContext(_KeyedMixin, AttemptContext, ObjectSharedContext):
    """Context of a shared virtual object handler (reads state)."""


class WorkflowAttemptContext(_PromiseMixin, _KeyedMixin, AttemptContext, WorkflowContext):
    """Context of a workflow's run handler."""


class WorkflowSharedAttemptContext(
    _PromiseMixin, _KeyedMixin, AttemptContext, WorkflowSharedContext
):
    """Context of a workflow's shared handlers."""
