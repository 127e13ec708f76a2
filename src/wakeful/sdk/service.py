"""Service definitions: `Service`, `VirtualObject`, `Workflow` and their handler decorators."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

from wakeful.sdk.handler_io import HandlerIO, infer_handler_io
from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.serde import DefaultSerde, Serde

__all__ = ["Handler", "Service", "ServiceKind", "handler_of"]

F = TypeVar("F", bound=Callable[..., Any])
ServiceKind = Literal["service", "object", "workflow"]
HandlerKind = Literal["exclusive", "shared", "workflow"] | None
ContextManagers = list[Callable[[], AbstractAsyncContextManager[None]]]

_HANDLER_ATTRIBUTE = "__wakeful_handler__"


@dataclass(frozen=True, slots=True)
class Handler:
    """One handler of a service, with everything the runtime needs to call it."""

    service_name: str
    service_kind: ServiceKind
    name: str
    fn: Callable[..., Any]
    io: HandlerIO
    arity: int
    kind: HandlerKind = None
    inactivity_timeout: timedelta | None = None
    retry_policy: InvocationRetryPolicy | None = None
    idempotency_retention: timedelta | None = None
    ingress_private: bool | None = None
    metadata: dict[str, str] | None = None
    workflow_retention: timedelta | None = None

    @property
    def label(self) -> str:
        """`Service/handler`, as used in logs and errors."""
        return f"{self.service_name}/{self.name}"


def handler_of(fn: Callable[..., Any]) -> Handler:
    """The Handler a decorated function was registered as."""
    found = getattr(fn, _HANDLER_ATTRIBUTE, None)
    if not isinstance(found, Handler):
        raise ValueError(f"{fn!r} is not a wakeful handler (decorate it with @service.handler())")
    return found


class _ServiceBase:
    """What services, virtual objects and workflows share."""

    kind: ServiceKind = "service"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"invalid service name {name!r}")
        self._name = name
        self.description = description
        self.metadata = metadata
        self.inactivity_timeout = inactivity_timeout
        self.abort_timeout = abort_timeout
        self.journal_retention = journal_retention
        self.idempotency_retention = idempotency_retention
        self.ingress_private = ingress_private
        self.invocation_retry_policy = invocation_retry_policy
        self.context_managers = invocation_context_managers
        self.handlers: dict[str, Handler] = {}

    @property
    def name(self) -> str:
        """The service name, as used in URLs."""
        return self._name

    def _register(
        self,
        fn: F,
        *,
        name: str | None,
        kind: HandlerKind,
        accept: str,
        content_type: str,
        input_serde: Serde[Any],
        output_serde: Serde[Any],
        metadata: dict[str, str] | None,
        inactivity_timeout: timedelta | None,
        idempotency_retention: timedelta | None,
        ingress_private: bool | None,
        invocation_retry_policy: InvocationRetryPolicy | None,
        workflow_retention: timedelta | None = None,
    ) -> F:
        io, arity = infer_handler_io(
            fn,
            accept=accept,
            content_type=content_type,
            input_serde=input_serde,
            output_serde=output_serde,
        )
        handler_name = name or fn.__name__
        if handler_name in self.handlers:
            raise ValueError(f"handler {handler_name!r} is defined twice in {self.name}")
        handler = Handler(
            service_name=self.name,
            service_kind=self.kind,
            name=handler_name,
            fn=fn,
            io=io,
            arity=arity,
            kind=kind,
            inactivity_timeout=inactivity_timeout or self.inactivity_timeout,
            retry_policy=invocation_retry_policy or self.invocation_retry_policy,
            idempotency_retention=idempotency_retention or self.idempotency_retention,
            ingress_private=ingress_private
            if ingress_private is not None
            else self.ingress_private,
            metadata=metadata,
            workflow_retention=workflow_retention or getattr(self, "workflow_retention", None),
        )
        self.handlers[handler_name] = handler
        setattr(fn, _HANDLER_ATTRIBUTE, handler)
        return fn


class Service(_ServiceBase):
    """A stateless service: a named group of handlers.

    >>> greeter = Service("Greeter")
    >>> @greeter.handler()
    ... async def greet(ctx: Context, name: str) -> str:
    ...     return f"Hello {name}!"
    """

    kind: ServiceKind = "service"

    def handler(
        self,
        name: str | None = None,
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - immutable default
        output_serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - immutable default
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated `async def h(ctx[, input])` as a handler of this service."""

        def decorate(fn: F) -> F:
            return self._register(
                fn,
                name=name,
                kind=None,
                accept=accept,
                content_type=content_type,
                input_serde=input_serde,
                output_serde=output_serde,
                metadata=metadata,
                inactivity_timeout=inactivity_timeout,
                idempotency_retention=idempotency_retention,
                ingress_private=ingress_private,
                invocation_retry_policy=invocation_retry_policy,
            )

        return decorate
