"""Contexts of virtual object and workflow handlers: durable state per key, durable promises."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from wakeful.sdk.futures import DurableFuture
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
    _state: dict[str, bytes] | None  # None until the snapshot is loaded (on the first read)
    _load_state: Callable[[], Awaitable[dict[str, bytes]]] | None
    _early_writes: list[tuple[str | None, bytes | None]]  # before the snapshot; None = all
    _writes_state: bool

    def key(self) -> str:
        """The object or workflow key."""
        return self._key

    async def _snapshot(self) -> dict[str, bytes]:
        """The key's state, loaded on first use, with this attempt's own writes applied."""
        if self._state is None:
            state = dict(await self._load_state()) if self._load_state is not None else {}
            for name, value in self._early_writes:
                if name is None:
                    state.clear()
                elif value is None:
                    state.pop(name, None)
                else:
                    state[name] = value
            self._state, self._early_writes = state, []
        return self._state

    def _write(self, name: str | None, value: bytes | None) -> None:
        if self._state is None:
            self._early_writes.append((name, value))
        elif name is None:
            self._state.clear()
        elif value is None:
            self._state.pop(name, None)
        else:
            self._state[name] = value

    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> Awaitable[T | None]:
        """The value stored under `name`, or None (recorded, so a replay reads the same).

        `entry_name` (a label for the journal entry in Restate's UI) is accepted and not kept.
        """
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return self._get(name, serde)

    async def _get(self, name: str, serde: Serde[T]) -> T | None:
        if self.machine.replaying:  # the journal has the value: no need to read the state
            recorded = self.machine.command(GetStateCommand(name, None))
            value = recorded.value if isinstance(recorded, GetStateCommand) else None
        else:
            value = (await self._snapshot()).get(name)
            recorded = self.machine.command(GetStateCommand(name, value))
            if isinstance(recorded, GetStateCommand):
                value = recorded.value
        return None if value is None else serde.deserialize(value)

    def state_keys(self, entry_name: str | None = None) -> Awaitable[list[str]]:
        """The names of all stored values."""
        return self._state_keys()

    async def _state_keys(self) -> list[str]:
        if self.machine.replaying:
            recorded = self.machine.command(GetStateKeysCommand([]))
            return list(recorded.keys) if isinstance(recorded, GetStateKeysCommand) else []
        keys = sorted(await self._snapshot())
        recorded = self.machine.command(GetStateKeysCommand(keys))
        if isinstance(recorded, GetStateKeysCommand):
            keys = list(recorded.keys)
        return keys

    def _check_writable(self, operation: str) -> None:
        if not self._writes_state:
            raise TypeError(f"ctx.{operation} is not available in a shared handler (read-only)")

    def set(
        self,
        name: str,
        value: T,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        entry_name: str | None = None,
    ) -> None:
        """Store `value` under `name`."""
        self._check_writable("set")
        data = serde.serialize(value)
        self.machine.command(SetStateCommand(name, data))
        self._write(name, data)

    def clear(self, name: str, entry_name: str | None = None) -> None:
        """Delete the value stored under `name`."""
        self._check_writable("clear")
        self.machine.command(ClearStateCommand(name))
        self._write(name, None)

    def clear_all(self, entry_name: str | None = None) -> None:
        """Delete every stored value of this key."""
        self._check_writable("clear_all")
        self.machine.command(ClearAllStateCommand())
        self._write(None, None)


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
