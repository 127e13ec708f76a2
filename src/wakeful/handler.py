"""`wakeful.handler` (as restate-sdk's `restate.handler`): handler definitions and invocation.

`Service.handler()` and friends build these; integrations that register handlers themselves
use `make_handler` and `handler_from_callable`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from inspect import Signature
from typing import Any, Generic, Literal, TypeVar

from wakeful.errors import TerminalError
from wakeful.sdk.handler_io import HandlerIO, _pick
from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.service import (
    _HANDLER_ATTRIBUTE,
    ContextManagers,
    Handler,
    ServiceTag,
    call_handler,
    check_state_preload_options,
    handler_of,
)
from wakeful.sdk.unsupported import JournalValueCodec

__all__ = [
    "Handler",
    "HandlerIO",
    "ServiceTag",
    "TypeHint",
    "check_state_preload_options",
    "handler_from_callable",
    "invoke_handler",
    "make_handler",
    "update_handler_io_with_input_type_hints",
    "update_handler_io_with_return_type_hints",
    "update_handler_io_with_type_hints",
]

T = TypeVar("T")


@dataclass
class TypeHint(Generic[T]):
    """A handler's input or output type, as discovery reports it."""

    annotation: T | None = None
    is_void: bool = False
    generate_json_schema: Callable[[], dict[str, Any]] | None = None


def update_handler_io_with_input_type_hints(handler_io: HandlerIO, signature: Signature) -> None:
    """Set the input type from `signature`, and a matching serde unless one was chosen."""
    params = list(signature.parameters.values())
    if len(params) == 1:
        handler_io.input_type = None
        return
    annotation = params[-1].annotation
    hint = Any if annotation is Signature.empty else annotation
    handler_io.input_type = hint
    handler_io.input_serde = _pick(handler_io.input_serde, hint)


def update_handler_io_with_return_type_hints(handler_io: HandlerIO, signature: Signature) -> None:
    """Set the output type from `signature`, and a matching serde unless one was chosen."""
    annotation = signature.return_annotation
    if annotation is None or annotation is Signature.empty or annotation is type(None):
        handler_io.output_type = None
    else:
        handler_io.output_type = annotation
    handler_io.output_serde = _pick(handler_io.output_serde, handler_io.output_type)


def update_handler_io_with_type_hints(handler_io: HandlerIO, signature: Signature) -> None:
    """Both of the above."""
    update_handler_io_with_input_type_hints(handler_io, signature)
    update_handler_io_with_return_type_hints(handler_io, signature)


def make_handler(
    service_tag: ServiceTag,
    handler_io: HandlerIO,
    name: str | None,
    kind: Literal["exclusive", "shared", "workflow"] | None,
    wrapped: Any,
    signature: Signature,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    inactivity_timeout: timedelta | None = None,
    abort_timeout: timedelta | None = None,
    journal_retention: timedelta | None = None,
    idempotency_retention: timedelta | None = None,
    workflow_retention: timedelta | None = None,
    enable_lazy_state: bool | None = None,
    state_preload: bool | list[str] | None = None,
    ingress_private: bool | None = None,
    invocation_retry_policy: InvocationRetryPolicy | None = None,
    context_managers: ContextManagers | None = None,
) -> Handler:
    """Build a Handler for `wrapped` and attach it to the function (see `handler_from_callable`)."""
    handler_name = name or getattr(wrapped, "__name__", None)
    if not handler_name:
        raise ValueError("Handler name must be provided")
    if len(signature.parameters) == 0:
        raise ValueError("Handler must have at least one parameter")
    check_state_preload_options(state_preload, enable_lazy_state)
    update_handler_io_with_type_hints(handler_io, signature)
    handler = Handler(
        service_tag=service_tag,
        handler_io=handler_io,
        kind=kind,
        name=handler_name,
        fn=wrapped,
        arity=len(signature.parameters),
        description=description,
        metadata=metadata,
        inactivity_timeout=inactivity_timeout,
        abort_timeout=abort_timeout,
        journal_retention=journal_retention,
        idempotency_retention=idempotency_retention,
        workflow_retention=workflow_retention,
        enable_lazy_state=enable_lazy_state,
        state_preload=state_preload,
        ingress_private=ingress_private,
        invocation_retry_policy=invocation_retry_policy,
        context_managers=context_managers,
    )
    setattr(wrapped, _HANDLER_ATTRIBUTE, handler)
    return handler


def handler_from_callable(wrapper: Callable[..., Any]) -> Handler:
    """The Handler a decorated function was registered as (ValueError if none)."""
    return handler_of(wrapper)


async def invoke_handler(
    handler: Handler, ctx: Any, in_buffer: bytes, journal_codec: JournalValueCodec | None = None
) -> bytes:
    """Decode the input, call the handler function, encode its output."""
    if journal_codec is not None and handler.arity == 2:
        try:
            in_buffer = await journal_codec.decode(in_buffer)
        except Exception as e:
            raise TerminalError("Failed to decode input using journal value codec", 400) from e
    out_buffer = await call_handler(handler, ctx, in_buffer)
    if journal_codec is not None:
        out_buffer = journal_codec.encode(out_buffer)
    return out_buffer
