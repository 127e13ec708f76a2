"""Context calls that reach other invocations or the clock: calls, sends, sleeps, cancellation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.engine.commands import callee_id
from wakeful.engine.model import Target
from wakeful.errors import InvalidIdError, TerminalError
from wakeful.journal.entries import (
    AttachInvocationCommand,
    CallCommand,
    Failure,
    OneWayCallCommand,
    Result,
    SendSignalCommand,
    SleepCommand,
)
from wakeful.journal.ids import CANCEL_SIGNAL, InvocationId
from wakeful.journal.limits import latest_time_error
from wakeful.sdk.context import (
    HandlerType,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    SendHandle,
)
from wakeful.sdk.futures import (
    DurableCallFuture,
    DurableFuture,
    DurableSendHandle,
    DurableSleepFuture,
)
from wakeful.sdk.serde import BytesSerde, DefaultSerde, Serde
from wakeful.sdk.service import handler_of
from wakeful.vm.handles import completion_handle
from wakeful.vm.machine import ReplayMachine
from wakeful.vm.pump import AttemptPump

__all__ = ["CallsMixin"]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the SDK's own name for input types
O = TypeVar("O")  # noqa: E741 - the SDK's own name for output types

_CANCELLED = Result(failure=Failure(409, "cancelled"))


class CallsMixin:
    """Calls between handlers, durable timers and cancellation, for `AttemptContext`."""

    machine: ReplayMachine
    pump: AttemptPump
    invocation_id: InvocationId
    _children: list[str]
    clock: Clock = SYSTEM_CLOCK  # the invoker sets the server's (a test's virtual clock)

    # -- timers ------------------------------------------------------------------------

    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture:
        """A durable timer that fires after `delta` (survives restarts)."""
        wake_up_at = _time_after(self.clock.now_ms(), delta, "sleep")
        cid = self.machine.allocate_completion_id()
        self.machine.command(SleepCommand(wake_up_at, cid, name))
        return DurableSleepFuture(self.pump, completion_handle(cid), DefaultSerde())

    # -- calls -------------------------------------------------------------------------

    def _callee_id(
        self, service: str, handler: str, key: str | None, idem: str | None, workflow_run: bool
    ) -> InvocationId:
        # The engine's derivation, from this invocation and the call's position: the same on
        # every replay, and the id the engine invokes.
        target = Target(service, handler, key)
        index = self.machine.next_command_index
        return callee_id(self.invocation_id, index, target, idem, workflow_run)

    def _call(
        self,
        service: str,
        handler: str,
        key: str | None,
        body: bytes,
        serde: Serde[Any],
        idempotency_key: str | None,
        headers: dict[str, str] | None,
        workflow_run: bool = False,
    ) -> DurableCallFuture[Any]:
        callee = self._callee_id(service, handler, key, idempotency_key, workflow_run)
        cid = self.machine.allocate_completion_id()
        command = CallCommand(
            service,
            handler,
            key,
            body,
            list((headers or {}).items()),
            callee.to_bytes(),
            cid,
            idempotency_key,
        )
        recorded = self.machine.command(command)
        if isinstance(recorded, CallCommand):
            callee = InvocationId.from_bytes(recorded.invocation_id)
        callee_text = str(callee)
        self._children.append(callee_text)
        return DurableCallFuture(
            self.pump, completion_handle(cid), serde, callee_text, self.cancel_invocation
        )

    def _send(
        self,
        service: str,
        handler: str,
        key: str | None,
        body: bytes,
        send_delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
        workflow_run: bool = False,
    ) -> SendHandle:
        callee = self._callee_id(service, handler, key, idempotency_key, workflow_run)
        invoke_at = None
        if send_delay is not None and send_delay.total_seconds() > 0:
            invoke_at = _time_after(self.clock.now_ms(), send_delay, "send_delay")
        command = OneWayCallCommand(
            service,
            handler,
            key,
            body,
            list((headers or {}).items()),
            callee.to_bytes(),
            invoke_at,
            idempotency_key,
        )
        recorded = self.machine.command(command)
        if isinstance(recorded, OneWayCallCommand):
            callee = InvocationId.from_bytes(recorded.invocation_id)
        return DurableSendHandle(str(callee), self.cancel_invocation)

    def _typed_call(
        self,
        tpe: HandlerType[I, O],
        key: str | None,
        arg: I,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> RestateDurableCallFuture[O]:
        h = handler_of(tpe)
        body = h.io.input_serde.serialize(arg)
        workflow_run = h.kind == "workflow"
        return self._call(
            h.service_name, h.name, key, body, h.io.output_serde, idempotency_key, headers,
            workflow_run,
        )  # fmt: skip

    def _typed_send(
        self,
        tpe: HandlerType[I, O],
        key: str | None,
        arg: I,
        send_delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
    ) -> SendHandle:
        h = handler_of(tpe)
        body = h.io.input_serde.serialize(arg)
        workflow_run = h.kind == "workflow"
        return self._send(
            h.service_name, h.name, key, body, send_delay, idempotency_key, headers, workflow_run
        )

    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a service handler; await the future for its result."""
        return self._typed_call(tpe, None, arg, idempotency_key, headers)

    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way call to a service handler (optionally delayed)."""
        return self._typed_send(tpe, None, arg, send_delay, idempotency_key, headers)

    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a virtual object handler."""
        return self._typed_call(tpe, key, arg, idempotency_key, headers)

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
        return self._typed_send(tpe, key, arg, send_delay, idempotency_key, headers)

    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a workflow handler (its run handler runs once per key)."""
        return self._typed_call(tpe, key, arg, idempotency_key, headers)

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
        return self._typed_send(tpe, key, arg, send_delay, idempotency_key, headers)

    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[bytes]:
        """Call any handler by name with raw bytes; the result is raw bytes."""
        return self._call(service, handler, key, arg, BytesSerde(), idempotency_key, headers)

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
        return self._send(service, handler, key, arg, send_delay, idempotency_key, headers)

    # -- other invocations -------------------------------------------------------------

    def cancel_invocation(self, invocation_id: str) -> None:
        """Cancel another invocation (its handler gets a TerminalError 409)."""
        target = _parse(invocation_id)
        self.machine.command(SendSignalCommand(target.to_bytes(), CANCEL_SIGNAL, _CANCELLED))

    def attach_invocation(
        self,
        invocation_id: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable default, as in restate-sdk
        type_hint: type[T] | None = None,
    ) -> RestateDurableFuture[T]:
        """Wait for another invocation's result."""
        target = _parse(invocation_id)
        if isinstance(serde, DefaultSerde):
            serde = serde.with_maybe_type(type_hint)
        cid = self.machine.allocate_completion_id()
        self.machine.command(AttachInvocationCommand(target.to_bytes(), cid))
        return DurableFuture(self.pump, completion_handle(cid), serde)

    def _cancel_children(self) -> None:
        """Propagate a cancellation to the calls this invocation made."""
        for child in self._children:
            self.cancel_invocation(child)


def _time_after(now_ms: int, delta: timedelta, what: str) -> int:
    """Epoch milliseconds `delta` after `now_ms`; TerminalError (400) if that cannot be stored."""
    delta_ms = delta.total_seconds() * 1000
    reason = latest_time_error(now_ms, max(delta_ms, 0.0))
    if reason is not None:
        raise TerminalError(f"bad {what}: {reason}", 400)
    return now_ms + int(delta_ms)


def _parse(invocation_id: str) -> InvocationId:
    try:
        return InvocationId.parse(invocation_id)
    except InvalidIdError as e:
        raise TerminalError(f"bad invocation id {invocation_id!r}: {e}", 400) from e
