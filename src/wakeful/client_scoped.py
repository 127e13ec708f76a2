"""Calls and sends of the ingress client within one scope (`client.scope(s)`)."""

from __future__ import annotations

import abc
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from wakeful.sdk.context import HandlerType

if TYPE_CHECKING:
    from wakeful.client import Client, RestateClientSendHandle

__all__ = ["RestateScopedClient", "ScopedClient"]

I = TypeVar("I")  # noqa: E741 - restate-sdk's name for input types
O = TypeVar("O")  # noqa: E741 - restate-sdk's name for output types

Headers = dict[str, str]


class RestateScopedClient(abc.ABC):
    """Calls and sends within one scope (Restate's flow control; preview in Restate 1.7).

    Returned by `RestateClient.scope(scope)`. The optional `limit_key` (`"tenant"` or
    `"tenant/user"`) groups invocations under concurrency limits; it is not part of the
    identity of the target.
    """

    @abc.abstractmethod
    async def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        """Call the service handler `tpe` within this scope and return its output."""

    @abc.abstractmethod
    async def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        """Start the service handler `tpe` within this scope without waiting for it."""

    @abc.abstractmethod
    async def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        """Call the virtual object handler `tpe` for `key` within this scope."""

    @abc.abstractmethod
    async def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        """Start the virtual object handler `tpe` for `key` within this scope."""

    @abc.abstractmethod
    async def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        """Call the workflow handler `tpe` for `key` within this scope."""

    @abc.abstractmethod
    async def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        """Start the workflow handler `tpe` for `key` within this scope."""


class ScopedClient(RestateScopedClient):
    """The `RestateScopedClient` of `Client.scope`: the same calls, under a fixed scope."""

    def __init__(self, client: Client, scope_key: str) -> None:
        self.client = client
        self.scope_key = scope_key

    async def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        return await self.client.do_call(
            tpe,
            arg,
            idempotency_key=idempotency_key,
            headers=headers,
            scope=self.scope_key,
            limit_key=limit_key,
        )

    async def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        return await self.client.do_send(
            tpe,
            arg,
            send_delay=send_delay,
            idempotency_key=idempotency_key,
            headers=headers,
            scope=self.scope_key,
            limit_key=limit_key,
        )

    async def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        return await self.client.do_call(
            tpe,
            arg,
            key=key,
            idempotency_key=idempotency_key,
            headers=headers,
            scope=self.scope_key,
            limit_key=limit_key,
        )

    async def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        return await self.client.do_send(
            tpe,
            arg,
            key=key,
            send_delay=send_delay,
            idempotency_key=idempotency_key,
            headers=headers,
            scope=self.scope_key,
            limit_key=limit_key,
        )

    async def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        return await self.object_call(tpe, key, arg, limit_key, idempotency_key, headers)

    async def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        limit_key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        return await self.object_send(
            tpe, key, arg, send_delay, limit_key, idempotency_key, headers
        )
