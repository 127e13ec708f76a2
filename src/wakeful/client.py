"""An ingress client for Restate's HTTP API, with the surface of restate-sdk's `restate.client`.

It talks HTTP only, so it works against a wakeful server and a Restate server alike. Besides
restate-sdk's call/send methods it completes awakeables and attaches to invocations, as
Restate's Go ingress client does.

>>> async with create_client("http://localhost:8080") as client:
...     greeting = await client.service_call(greet, "Ada")
...     handle = await client.service_send(greet, "Bob", send_delay=timedelta(seconds=5))
...     output = await client.attach_invocation(handle.invocation_id, type_hint=str)

Every answer with status 400 or above raises `HttpError`, as restate-sdk's client does; a
failed invocation too (its body says `"source": "invocation"`, see `HttpError.source`).
"""

from __future__ import annotations

import abc
import importlib.util
import json
import typing
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Final, Literal, TypeVar, cast, overload
from urllib.parse import quote

import httpx

from wakeful.sdk.context import HandlerType
from wakeful.sdk.serde import BytesSerde, DefaultSerde, Serde, serde_for_type
from wakeful.sdk.service import handler_of
from wakeful.sdk.unsupported import JournalValueCodec

__all__ = [
    "Client",
    "CompletionOutcome",
    "HttpError",
    "InvocationNotReadyError",
    "RestateClient",
    "RestateClientSendHandle",
    "RestateScopedClient",
    "create_client",
]

T = TypeVar("T")
CompletionOutcome = Literal["applied", "duplicate", "conflict", "unknown", "closed"]
"""What completing an awakeable did (the server's `x-wakeful-completion` header)."""
_OUTCOMES: frozenset[str] = frozenset(typing.get_args(CompletionOutcome))
I = TypeVar("I")  # noqa: E741 - restate-sdk's name for input types
O = TypeVar("O")  # noqa: E741 - restate-sdk's name for output types

NOT_READY: Final = 470
"""The status of `GET /restate/invocation/{id}/output` while the invocation still runs."""

# A call blocks until the invocation ends, which may be days away: no read (or pool) timeout.
DEFAULT_TIMEOUT: Final = httpx.Timeout(5.0, read=None, pool=None)

Headers = dict[str, str]


class RestateClientSendHandle:
    """What a send returns: the id of the new (or already existing) invocation.

    `status_code` is the HTTP status of the answer (202); `status` is `"Accepted"`, or
    `"PreviouslyAccepted"` when an idempotency key or workflow key matched an invocation
    that already existed.
    """

    def __init__(self, invocation_id: str, status_code: int, status: str | None = None) -> None:
        self.invocation_id = invocation_id
        self.status_code = status_code
        self.status = status

    def __repr__(self) -> str:
        return (
            f"RestateClientSendHandle(invocation_id={self.invocation_id!r}, "
            f"status_code={self.status_code}, status={self.status!r})"
        )


class HttpError(Exception):
    """The ingress answered with an error status (400 or above).

    `message` is the `message` field of the JSON error body when there is one, else the
    reason phrase; `body` is the raw body text.

    >>> try:
    ...     await client.service_call(charge, order)
    ... except HttpError as e:
    ...     if e.source == "invocation":  # the handler failed with a TerminalError
    ...         print(e.status_code, e.message)
    """

    def __init__(self, status_code: int, message: str, body: str | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body

    @property
    def source(self) -> str | None:
        """`"invocation"` (the invocation failed) or `"ingress"` (the request was refused).

        None when the server does not say so (Restate before 1.7.4, or a proxy's answer).
        """
        found = _error_field(self.body, "source")
        return found if isinstance(found, str) else None


class InvocationNotReadyError(HttpError):
    """`get_invocation_output`: the invocation exists but has not completed yet (status 470)."""


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


class RestateClient(abc.ABC):
    """The ingress client that `create_client` yields.

    Typed calls take a handler function registered with `@service.handler()` (or the object
    and workflow equivalents) and use its serdes and content type; `generic_*` take names and
    raw bytes.
    """

    @abc.abstractmethod
    def scope(self, scope: str) -> RestateScopedClient:
        """A client whose calls and sends all run within `scope` (`[a-zA-Z0-9_.-]{1,36}`)."""

    @abc.abstractmethod
    async def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        """Call the service handler `tpe` and return its output."""

    @abc.abstractmethod
    async def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        """Start the service handler `tpe` (after `send_delay`) without waiting for it."""

    @abc.abstractmethod
    async def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        """Call the virtual object handler `tpe` for `key` and return its output."""

    @abc.abstractmethod
    async def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        """Start the virtual object handler `tpe` for `key` without waiting for it."""

    @abc.abstractmethod
    async def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        """Call the workflow handler `tpe` for `key` and return its output."""

    @abc.abstractmethod
    async def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        """Start the workflow handler `tpe` for `key` without waiting for it."""

    @abc.abstractmethod
    async def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> bytes:
        """Call `service/handler` (of object or workflow `key`) with raw bytes.

        `limit_key` needs `scope` (see `RestateClient.scope`).
        """

    @abc.abstractmethod
    async def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> RestateClientSendHandle:
        """Start `service/handler` (of object or workflow `key`) with raw bytes.

        `limit_key` needs `scope` (see `RestateClient.scope`).
        """

    # -- not in restate-sdk's client; Restate's Go ingress client has them -----------------

    @abc.abstractmethod
    async def resolve_awakeable(
        self,
        awakeable_id: str,
        value: Any,
        serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - immutable default, as in the SDK
    ) -> CompletionOutcome | None:
        """Complete the awakeable `awakeable_id` with `value` (JSON unless `serde` says else).

        Returns what happened, as the server tells it (`x-wakeful-completion`): "applied",
        "duplicate" (completed before with the same value), "conflict" (completed before with
        another), "unknown" (no such invocation) or "closed" (it ended); None from a server
        that does not tell (Restate). A payload that does not fit the awaited type, or an id
        the invocation never created, raises `HttpError` (400 / 404).
        """

    @abc.abstractmethod
    async def reject_awakeable(self, awakeable_id: str, message: str) -> CompletionOutcome | None:
        """Fail the awakeable `awakeable_id`: its waiter gets `TerminalError(message, 500)`.

        Returns what happened, as `resolve_awakeable` does.
        """

    @overload
    async def attach_invocation(self, invocation_id: str) -> Any: ...

    @overload
    async def attach_invocation(self, invocation_id: str, type_hint: type[T]) -> T: ...

    @overload
    async def attach_invocation(
        self, invocation_id: str, type_hint: type[T] | None = None, *, serde: Serde[T]
    ) -> T: ...

    @abc.abstractmethod
    async def attach_invocation(
        self,
        invocation_id: str,
        type_hint: type[Any] | None = None,
        *,
        serde: Serde[Any] | None = None,
    ) -> Any:
        """Wait for invocation `invocation_id` to end and return its output.

        The output is decoded with `serde`, else as `type_hint` would be for a handler's
        return type (JSON by default, raw for `bytes`). Only invocations that keep their
        result (started with an idempotency key, or workflow runs) can be attached to.
        """

    @overload
    async def get_invocation_output(self, invocation_id: str) -> Any: ...

    @overload
    async def get_invocation_output(self, invocation_id: str, type_hint: type[T]) -> T: ...

    @overload
    async def get_invocation_output(
        self, invocation_id: str, type_hint: type[T] | None = None, *, serde: Serde[T]
    ) -> T: ...

    @abc.abstractmethod
    async def get_invocation_output(
        self,
        invocation_id: str,
        type_hint: type[Any] | None = None,
        *,
        serde: Serde[Any] | None = None,
    ) -> Any:
        """The output of the ended invocation `invocation_id`, decoded as `attach_invocation`.

        Raises `InvocationNotReadyError` while the invocation is still running.
        """


class Client(RestateClient):
    """The `RestateClient` over an `httpx.AsyncClient` whose base URL is the ingress."""

    def __init__(self, client: httpx.AsyncClient, headers: Headers | None = None) -> None:
        self.client = client
        self.headers = dict(headers or {})

    def scope(self, scope: str) -> RestateScopedClient:
        return ScopedClient(self, scope)

    # -- typed calls ------------------------------------------------------------------------

    async def do_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> O:
        """Call the handler `tpe` and decode its output with the handler's output serde."""
        handler = handler_of(tpe)
        content, request_headers = _typed_request(tpe, arg, headers)
        res = await self.post(
            handler.service_name,
            handler.name,
            content,
            key=key,
            send=False,
            idempotency_key=idempotency_key,
            headers=request_headers,
            scope=scope,
            limit_key=limit_key,
        )
        return cast(O, handler.io.output_serde.deserialize(res.content))

    async def do_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        *,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> RestateClientSendHandle:
        """Send to the handler `tpe` and return the handle of the new invocation."""
        handler = handler_of(tpe)
        content, request_headers = _typed_request(tpe, arg, headers)
        res = await self.post(
            handler.service_name,
            handler.name,
            content,
            key=key,
            send=True,
            send_delay=send_delay,
            idempotency_key=idempotency_key,
            headers=request_headers,
            scope=scope,
            limit_key=limit_key,
        )
        return _send_handle(res)

    async def post(
        self,
        service: str,
        handler: str,
        content: bytes,
        *,
        key: str | None,
        send: bool,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> httpx.Response:
        """POST one call or send to the ingress; raise `HttpError` unless it succeeded."""
        if limit_key is not None and scope is None:
            raise ValueError("limit_key needs a scope: use client.scope(...) or pass scope=")
        target = [service] if key is None else [service, key]
        target.append(handler)
        if scope is not None:
            segments = ["restate", "scope", scope, "send" if send else "call", *target]
        else:
            segments = [*target, "send"] if send else target
        params = {"delay": _format_delay(send_delay)} if send and send_delay is not None else None
        request_headers = dict(headers or {})
        if idempotency_key is not None:
            request_headers["idempotency-key"] = idempotency_key
        if limit_key is not None:
            request_headers["x-restate-limit-key"] = limit_key
        return await self._request(
            "POST", segments, content=content, headers=request_headers, params=params
        )

    async def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        return await self.do_call(tpe, arg, idempotency_key=idempotency_key, headers=headers)

    async def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        return await self.do_send(
            tpe, arg, send_delay=send_delay, idempotency_key=idempotency_key, headers=headers
        )

    async def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        return await self.do_call(
            tpe, arg, key=key, idempotency_key=idempotency_key, headers=headers
        )

    async def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        return await self.do_send(
            tpe,
            arg,
            key=key,
            send_delay=send_delay,
            idempotency_key=idempotency_key,
            headers=headers,
        )

    async def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> O:
        return await self.object_call(tpe, key, arg, idempotency_key, headers)

    async def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
    ) -> RestateClientSendHandle:
        return await self.object_send(tpe, key, arg, send_delay, idempotency_key, headers)

    # -- untyped calls ----------------------------------------------------------------------

    async def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> bytes:
        res = await self.post(
            service,
            handler,
            BytesSerde().serialize(arg),
            key=key,
            send=False,
            idempotency_key=idempotency_key,
            headers=headers,
            scope=scope,
            limit_key=limit_key,
        )
        return res.content

    async def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Headers | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> RestateClientSendHandle:
        res = await self.post(
            service,
            handler,
            BytesSerde().serialize(arg),
            key=key,
            send=True,
            send_delay=send_delay,
            idempotency_key=idempotency_key,
            headers=headers,
            scope=scope,
            limit_key=limit_key,
        )
        return _send_handle(res)

    # -- awakeables and invocations ---------------------------------------------------------

    async def resolve_awakeable(
        self,
        awakeable_id: str,
        value: Any,
        serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - immutable default, as in the SDK
    ) -> CompletionOutcome | None:
        res = await self._request(
            "POST",
            ["restate", "awakeables", awakeable_id, "resolve"],
            content=serde.serialize(value),
            headers={"content-type": "application/json"},
        )
        return _completion_outcome(res)

    async def reject_awakeable(self, awakeable_id: str, message: str) -> CompletionOutcome | None:
        res = await self._request(
            "POST",
            ["restate", "awakeables", awakeable_id, "reject"],
            content=message.encode("utf-8"),
            headers={"content-type": "text/plain; charset=utf-8"},
        )
        return _completion_outcome(res)

    async def attach_invocation(
        self,
        invocation_id: str,
        type_hint: type[Any] | None = None,
        *,
        serde: Serde[Any] | None = None,
    ) -> Any:
        res = await self._request("GET", ["restate", "invocation", invocation_id, "attach"])
        return (serde or serde_for_type(type_hint)).deserialize(res.content)

    async def get_invocation_output(
        self,
        invocation_id: str,
        type_hint: type[Any] | None = None,
        *,
        serde: Serde[Any] | None = None,
    ) -> Any:
        res = await self._request("GET", ["restate", "invocation", invocation_id, "output"])
        return (serde or serde_for_type(type_hint)).deserialize(res.content)

    async def _request(
        self,
        method: str,
        segments: list[str],
        *,
        content: bytes | None = None,
        headers: Headers | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        # Relative to the base URL, so an ingress behind a path prefix works too.
        url = "/".join(_segment(s) for s in segments)
        res = await self.client.request(
            method, url, content=content, headers=headers, params=params
        )
        _raise_for_status(res)
        return res


class ScopedClient(RestateScopedClient):
    """The `RestateScopedClient` of `Client.scope`: the same calls, under a fixed scope."""

    def __init__(self, client: Client, scope: str) -> None:
        self.client = client
        self.scope_key = scope

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


@asynccontextmanager
async def create_client(
    ingress: str,
    headers: Headers | None = None,
    journal_value_codec: JournalValueCodec | None = None,
    *,
    timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - httpx's setting
) -> AsyncIterator[RestateClient]:
    """A client of the ingress at `ingress` that sends `headers` with every request.

    >>> async with create_client("http://localhost:8080") as client:
    ...     print(await client.service_call(greet, "Ada"))

    `timeout` is httpx's; by default nothing limits how long a call waits for its result.
    `journal_value_codec` exists for restate-sdk compatibility; wakeful does not apply
    journal codecs yet, so passing one raises `NotImplementedError`.
    """
    if journal_value_codec is not None:
        raise NotImplementedError(
            "journal value codecs are not supported by wakeful yet; create the client without one"
        )
    async with httpx.AsyncClient(
        base_url=ingress, headers=headers, timeout=timeout, http2=_HTTP2
    ) as http_client:
        yield Client(http_client, headers)


# -- helpers ------------------------------------------------------------------------------

# restate-sdk asks httpx for HTTP/2, which needs the optional `h2` package; use it if present.
_HTTP2: Final = importlib.util.find_spec("h2") is not None


def _typed_request(
    tpe: Callable[..., Any], arg: Any, headers: Headers | None
) -> tuple[bytes, Headers]:
    """The body and headers of a call to handler `tpe`: the input serialized with its input
    serde, and its content type unless the handler takes no input or the caller set one."""
    handler = handler_of(tpe)
    request_headers = dict(headers or {})
    takes_input = handler.arity == 2
    if takes_input and not any(name.lower() == "content-type" for name in request_headers):
        request_headers["content-type"] = handler.io.content_type
    return handler.io.input_serde.serialize(arg), request_headers


def _completion_outcome(res: httpx.Response) -> CompletionOutcome | None:
    """The `x-wakeful-completion` answer of a completion request (None if absent)."""
    told = res.headers.get("x-wakeful-completion")
    return cast(CompletionOutcome, told) if told in _OUTCOMES else None


def _send_handle(res: httpx.Response) -> RestateClientSendHandle:
    """The handle described by a send's 202 body `{"invocationId", "status"}`."""
    try:
        body = res.json()
    except ValueError as exc:
        raise HttpError(res.status_code, "the send answer is not JSON", res.text) from exc
    if not isinstance(body, dict) or not isinstance(body.get("invocationId"), str):
        raise HttpError(res.status_code, "the send answer has no invocationId", res.text)
    status = body.get("status")
    return RestateClientSendHandle(
        body["invocationId"], res.status_code, status if isinstance(status, str) else None
    )


def _format_delay(delay: timedelta) -> str:
    """`delay` in whole milliseconds, as Restate's `?delay=` parses it (`1500ms`)."""
    if delay < timedelta(0):
        raise ValueError(f"send_delay must not be negative, got {delay}")
    return f"{delay // timedelta(milliseconds=1)}ms"


def _segment(part: str) -> str:
    """`part` percent-encoded as one path segment (Restate URL-decodes keys)."""
    if part in (".", ".."):
        # Literal dot segments would be collapsed by URL normalization.
        return part.replace(".", "%2E")
    return quote(part, safe="")


def _error_field(body: str | None, name: str) -> Any:
    """Field `name` of a JSON error body, or None."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed.get(name) if isinstance(parsed, dict) else None


def _raise_for_status(res: httpx.Response) -> None:
    """Raise `HttpError` (or `InvocationNotReadyError` for 470) for an error status.

    Error bodies are `{"code","message","source"}` since Restate 1.7.4 and `{"message"}`
    before; a body that is not JSON leaves the reason phrase as the message.
    """
    if res.status_code < 400:
        return
    body = res.text
    message = _error_field(body, "message")
    if not isinstance(message, str):
        message = res.reason_phrase or body or "error"
    error = InvocationNotReadyError if res.status_code == NOT_READY else HttpError
    raise error(res.status_code, message, body)
