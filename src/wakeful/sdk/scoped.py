"""`ctx.scope(...)`: calls and sends whose targets live in one scope."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from wakeful.sdk.context import HandlerType, RestateDurableCallFuture, ScopedContext, SendHandle

if TYPE_CHECKING:
    from wakeful.sdk.calls import CallsMixin

__all__ = ["AttemptScopedContext"]

I = TypeVar("I")  # noqa: E741 - the SDK's own name for input types
O = TypeVar("O")  # noqa: E741 - the SDK's own name for output types


class AttemptScopedContext(ScopedContext):
    """The calls of an attempt's context, each made within `scope`."""

    def __init__(self, ctx: CallsMixin, scope: str) -> None:
        self._ctx = ctx
        self._scope = scope

    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        return self._ctx._typed_call(
            tpe, None, arg, idempotency_key, headers, self._scope, limit_key
        )

    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._ctx._typed_send(
            tpe, None, arg, send_delay, idempotency_key, headers, self._scope, limit_key
        )

    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        return self._ctx._typed_call(
            tpe, key, arg, idempotency_key, headers, self._scope, limit_key
        )

    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self._ctx._typed_send(
            tpe, key, arg, send_delay, idempotency_key, headers, self._scope, limit_key
        )

    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        return self.object_call(tpe, key, arg, limit_key, idempotency_key, headers)

    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        return self.object_send(tpe, key, arg, send_delay, limit_key, idempotency_key, headers)
