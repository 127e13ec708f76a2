"""Contexts of virtual object and workflow handlers: durable state per key, durable promises."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from wakeful.errors import ProtocolViolationError
from wakeful.journal.entries import (
    ClearAllStateCommand,
    ClearStateCommand,
    CompletePromiseCommand,
    Entry,
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
from wakeful.sdk.futures import DurableFuture, Ready
from wakeful.sdk.key_state import KeyState
from wakeful.sdk.schemas import schema_of_serde
from wakeful.sdk.serde import DefaultSerde, Serde
from wakeful.vm.handles import completion_handle
from wakeful.vm.machine import ReplayMachine, Slot
from wakeful.vm.pump import AttemptPump

__all__ = [
    "ObjectAttemptContext",
    "ObjectSharedAttemptContext",
    "WorkflowAttemptContext",
    "WorkflowSharedAttemptContext",
]

T = TypeVar("T")


class _KeyedMixin:
    """State of the invocation's key: reads recorded at their position, writes journaled."""

    pump: AttemptPump
    machine: ReplayMachine
    _key: str
    _load_state: Callable[[], Awaitable[dict[str, bytes]]] | None
    _writes_state: bool

    @functools.cached_property
    def _key_state(self) -> KeyState:
        return KeyState(self.pump, self._load_state)

    def key(self) -> str:
        """The object or workflow key."""
        return self._key

    async def settle(self) -> None:
        """Wait until every state read has its value (the shared load finished)."""
        state: KeyState | None = self.__dict__.get("_key_state")  # None: state never touched
        if state is not None:
            await state.settle()

    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> Awaitable[T | None]:
        """The value stored under `name`, or None (recorded, so a replay reads the same)."""
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)

        def decode(entry: Entry) -> T | None:
            value = entry.value if isinstance(entry, GetStateCommand) else None
            return None if value is None else serde.deserialize(value)

        state = self._key_state
        if state.values is not None:  # loaded: the position and the value are known now
            command = GetStateCommand(name, state.values.get(name))
            return Ready(decode(self.machine.command(command) or command))
        taken = self.machine.command_deferred(GetStateCommand(name, None))
        if not isinstance(taken, Slot):  # replaying: the journal has the value
            return Ready(decode(taken))
        return _SlotRead(state.read_later(taken), taken, self.machine, decode)

    def state_keys(self) -> Awaitable[list[str]]:
        """The names of all stored values."""

        def decode(entry: Entry) -> list[str]:
            return list(entry.keys) if isinstance(entry, GetStateKeysCommand) else []

        state = self._key_state
        if state.values is not None:
            command = GetStateKeysCommand(sorted(state.values))
            return Ready(decode(self.machine.command(command) or command))
        taken = self.machine.command_deferred(GetStateKeysCommand([]))
        if not isinstance(taken, Slot):
            return Ready(decode(taken))
        return _SlotRead(state.read_later(taken), taken, self.machine, decode)

    def _check_writable(self, operation: str) -> None:
        if not self._writes_state:
            raise TypeError(f"ctx.{operation} is not available in a shared handler (read-only)")

    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde()) -> None:  # noqa: B008
        """Store `value` under `name`."""
        self._check_writable("set")
        data = serde.serialize(value)
        self.machine.command(SetStateCommand(name, data))
        self._key_state.write(name, data)

    def clear(self, name: str) -> None:
        """Delete the value stored under `name`."""
        self._check_writable("clear")
        self.machine.command(ClearStateCommand(name))
        self._key_state.write(name, None)

    def clear_all(self) -> None:
        """Delete every stored value of this key."""
        self._check_writable("clear_all")
        self.machine.command(ClearAllStateCommand())
        self._key_state.write(None, None)


class _SlotRead(Awaitable[T]):
    """A state read whose position is taken; its value arrives with the shared state load."""

    __slots__ = ("_decode", "_loaded", "_machine", "_slot")

    def __init__(
        self,
        loaded: Awaitable[None],
        slot: Slot,
        machine: ReplayMachine,
        decode: Callable[[Entry], T],
    ) -> None:
        self._loaded = loaded
        self._slot = slot
        self._machine = machine
        self._decode = decode

    def __await__(self) -> Generator[Any, Any, T]:
        yield from self._loaded.__await__()
        entry = self._slot.entry
        if entry is None:  # the load failed: the attempt fails with that error
            raise self._machine.failure or ProtocolViolationError("a state read got no value")
        return self._decode(entry)


class _NoneSerde(Serde[None]):
    def deserialize(self, buf: bytes) -> None:
        return None

    def serialize(self, obj: None) -> bytes:
        return b""


class AttemptPromise(DurablePromise[T]):
    """A workflow's durable promise, as seen from one attempt."""

    def __init__(
        self,
        pump: AttemptPump,
        name: str,
        serde: Serde[T],
        description: str | None = None,
        type_hint: type[T] | None = None,
    ) -> None:
        super().__init__(name, serde)
        self.pump = pump
        self.machine = pump.machine
        self.description = description
        self.type_hint = type_hint

    def value(self) -> RestateDurableFuture[T]:
        cid = self.machine.allocate_completion_id()
        schema = schema_of_serde(self.serde, self.type_hint)
        self.machine.command(GetPromiseCommand(self.name, cid, self.description, schema))
        return DurableFuture(self.pump, completion_handle(cid), self.serde)

    def peek(self) -> Awaitable[T | None]:
        cid = self.machine.allocate_completion_id()
        self.machine.command(PeekPromiseCommand(self.name, cid))
        future: DurableFuture[Any] = DurableFuture(self.pump, completion_handle(cid), self.serde)
        return future

    def _complete(self, result: Result) -> Awaitable[None]:
        cid = self.machine.allocate_completion_id()
        self.machine.command(CompletePromiseCommand(self.name, result, cid))
        return DurableFuture(self.pump, completion_handle(cid), _NoneSerde())

    def resolve(self, value: T) -> Awaitable[None]:
        return self._complete(Result(value=self.serde.serialize(value)))

    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        return self._complete(Result(failure=Failure(code, message)))


class _PromiseMixin:
    pump: AttemptPump

    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
        *,
        description: str | None = None,
    ) -> DurablePromise[T]:
        """The workflow's durable promise called `name`."""
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        return AttemptPromise(self.pump, name, serde, description, type_hint)


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
