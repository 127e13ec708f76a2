"""The handler-facing context API, with the names and signatures of restate-sdk's `restate.context`.

Handlers receive a concrete implementation (`wakeful.sdk.attempt_context`); these abstract
classes are what handler code type-checks against.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from datetime import timedelta
from random import Random
from typing import Any, Generic, TypeVar
from uuid import UUID

from typing_extensions import ParamSpec

from wakeful.sdk.serde import DefaultSerde, Serde

__all__ = [
    "AttemptFinishedEvent",
    "Context",
    "DurablePromise",
    "HandlerType",
    "KeyValueStore",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RunAction",
    "RunOptions",
    "ScopedContext",
    "SendHandle",
    "WorkflowContext",
    "WorkflowSharedContext",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the SDK's own name for input types
O = TypeVar("O")  # noqa: E741 - the SDK's own name for output types
P = ParamSpec("P")

HandlerType = Callable[[Any, I], Awaitable[O]] | Callable[[Any], Awaitable[O]]
RunAction = Callable[..., Coroutine[Any, Any, T]] | Callable[..., T]


@dataclass
class RunOptions(Generic[T]):
    """Options of `ctx.run_typed`: serde, and the step's own retry limits.

    Without any retry option a failing step fails the attempt, and the invocation retry policy
    applies. With `max_attempts` or `max_duration`, the step is retried in place and, once the
    limit is reached, `ctx.run` raises a `TerminalError` carrying the last error's message.
    """

    serde: Serde[T] = DefaultSerde()  # noqa: RUF009 - an immutable default, as in restate-sdk
    type_hint: type[T] | None = None
    max_attempts: int | None = None
    max_duration: timedelta | None = None
    initial_retry_interval: timedelta | None = None
    max_retry_interval: timedelta | None = None
    retry_interval_factor: float | None = None
    max_retry_duration: timedelta | None = None  # deprecated alias of max_duration


class RestateDurableFuture(Generic[T], Awaitable[T], abc.ABC):
    """A durable result: awaiting it suspends the invocation until it is available."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, T]: ...


class RestateDurableCallFuture(RestateDurableFuture[T]):
    """The result of a call to another handler."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The id of the called invocation."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the called invocation."""


class RestateDurableSleepFuture(RestateDurableFuture[None]):
    """A durable timer."""


class AttemptFinishedEvent(abc.ABC):
    """Set when the current attempt ends (a place to release attempt-scoped resources)."""

    @abc.abstractmethod
    def is_set(self) -> bool:
        """True once the attempt has finished."""

    @abc.abstractmethod
    async def wait(self) -> None:
        """Wait until the attempt has finished."""


@dataclass
class Request:
    """The invocation's request: id, headers and body."""

    id: str
    headers: dict[str, str]
    attempt_headers: dict[str, str]
    body: bytes
    attempt_finished_event: AttemptFinishedEvent
    scope: str | None = None
    limit_key: str | None = None
    idempotency_key: str | None = None


class KeyValueStore(abc.ABC):
    """Durable key/value state of a virtual object or workflow."""

    @abc.abstractmethod
    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> Awaitable[T | None]:
        """The value stored under `name`, or None."""

    @abc.abstractmethod
    def state_keys(self) -> Awaitable[list[str]]:
        """The names of all stored values."""

    @abc.abstractmethod
    def set(self, name: str, value: T, serde: Serde[T] = DefaultSerde()) -> None:  # noqa: B008
        """Store `value` under `name`."""

    @abc.abstractmethod
    def clear(self, name: str) -> None:
        """Delete the value stored under `name`."""

    @abc.abstractmethod
    def clear_all(self) -> None:
        """Delete all stored values."""


class SendHandle(abc.ABC):
    """A handle on a one-way call."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The id of the sent invocation."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the sent invocation."""


class ScopedContext(abc.ABC):  # noqa: B024 - restate-sdk's name; methods come with scopes
    """Calls and sends routed within a scope (flow control)."""


class Context(abc.ABC):
    """What every handler can do: durable steps, awakeables, calls, timers, determinism helpers."""

    @abc.abstractmethod
    def request(self) -> Request:
        """The request that started this invocation."""

    @abc.abstractmethod
    def random(self) -> Random:
        """A random generator seeded per invocation: the same numbers on every replay."""

    @abc.abstractmethod
    def uuid(self) -> UUID:
        """A UUID drawn from `random()`: the same on every replay."""

    @abc.abstractmethod
    def time(self) -> RestateDurableFuture[float]:
        """The current time (seconds since the epoch), recorded as a durable step."""

    @abc.abstractmethod
    def run(
        self,
        name: str,
        action: RunAction[T],
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]:
        """Run `action(*args)` as a durable step: executed until it succeeds, recorded once.

        >>> await ctx.run("charge", lambda: payments.charge(order))
        """

    @abc.abstractmethod
    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]] | Callable[P, T],
        options: RunOptions[T] = RunOptions(),  # noqa: B008 - immutable default, as in restate-sdk
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]:
        """Run `action(*args, **kwargs)` as a durable step with `RunOptions`."""

    @abc.abstractmethod
    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture:
        """A durable timer that fires after `delta`."""

    @abc.abstractmethod
    def awakeable(
        self,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
        *,
        description: str | None = None,
    ) -> tuple[str, RestateDurableFuture[T]]:
        """Create an awakeable: its id (to hand out) and the future that resolves with it.

        `description` (beyond restate-sdk's signature) says what is asked, for the list of
        pending waits, the inbox and completion links.

        >>> review_id, review = ctx.awakeable(type_hint=str, description="Review contract.pdf")
        >>> await ctx.run("ask", lambda: send_email(review_id))
        >>> verdict = await review
        """

    @abc.abstractmethod
    def resolve_awakeable(
        self,
        name: str,
        value: I,
        serde: Serde[I] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
    ) -> None:
        """Resolve the awakeable with id `name` (of any invocation) with `value`."""

    @abc.abstractmethod
    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        """Reject the awakeable with id `name`: its awaiter gets a TerminalError."""

    @abc.abstractmethod
    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a service handler and get a future of its result."""

    @abc.abstractmethod
    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way call to a service handler."""

    @abc.abstractmethod
    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a virtual object handler."""

    @abc.abstractmethod
    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way call to a virtual object handler."""

    @abc.abstractmethod
    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a workflow handler."""

    @abc.abstractmethod
    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way call to a workflow handler."""

    @abc.abstractmethod
    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[bytes]:
        """Call any handler by name with raw bytes."""

    @abc.abstractmethod
    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way call to any handler by name with raw bytes."""

    @abc.abstractmethod
    def cancel_invocation(self, invocation_id: str) -> None:
        """Cancel another invocation."""

    @abc.abstractmethod
    def attach_invocation(
        self,
        invocation_id: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> RestateDurableFuture[T]:
        """Wait for another invocation's result."""


class ObjectContext(Context, KeyValueStore):
    """Context of an exclusive virtual object handler: reads and writes the key's state."""

    @abc.abstractmethod
    def key(self) -> str:
        """The object key."""


class ObjectSharedContext(Context):
    """Context of a shared virtual object handler: reads the key's state."""

    @abc.abstractmethod
    def key(self) -> str:
        """The object key."""

    @abc.abstractmethod
    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> Awaitable[T | None]:
        """The value stored under `name`, or None."""

    @abc.abstractmethod
    def state_keys(self) -> Awaitable[list[str]]:
        """The names of all stored values."""


class DurablePromise(Generic[T]):
    """A workflow's named durable promise: resolved or rejected once, read by every handler."""

    def __init__(self, name: str, serde: Serde[T] = DefaultSerde()) -> None:  # noqa: B008
        self.name = name
        self.serde = serde

    def resolve(self, value: T) -> Awaitable[None]:
        """Resolve the promise with `value`."""
        raise NotImplementedError("durable promises (workflows) are not available yet")

    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        """Reject the promise: awaiters get a TerminalError."""
        raise NotImplementedError("durable promises (workflows) are not available yet")

    def peek(self) -> Awaitable[T | None]:
        """The promise's value if completed, else None."""
        raise NotImplementedError("durable promises (workflows) are not available yet")

    def value(self) -> RestateDurableFuture[T]:
        """A future of the promise's value."""
        raise NotImplementedError("durable promises (workflows) are not available yet")

    def __await__(self) -> Generator[Any, Any, T]:
        return self.value().__await__()


class WorkflowContext(ObjectContext):
    """Context of a workflow's run handler."""

    @abc.abstractmethod
    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
        *,
        description: str | None = None,
    ) -> DurablePromise[T]:
        """The workflow's durable promise called `name` (`description`: what is asked, shown
        in the list of pending waits; beyond restate-sdk's signature)."""


class WorkflowSharedContext(ObjectSharedContext):
    """Context of a workflow's shared handlers."""

    @abc.abstractmethod
    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
        *,
        description: str | None = None,
    ) -> DurablePromise[T]:
        """The workflow's durable promise called `name` (`description`: what is asked, shown
        in the list of pending waits; beyond restate-sdk's signature)."""
