"""Service definitions: `Service`, `VirtualObject`, `Workflow` and their handler decorators."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

from wakeful.errors import TerminalError
from wakeful.sdk.handler_io import HandlerIO, infer_handler_io
from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.serde import DefaultSerde, Serde

__all__ = [
    "Handler",
    "Service",
    "ServiceKind",
    "ServiceTag",
    "call_handler",
    "check_state_preload_options",
    "handler_of",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
ServiceKind = Literal["service", "object", "workflow"]
HandlerKind = Literal["exclusive", "shared", "workflow"] | None
ContextManagers = list[Callable[[], AbstractAsyncContextManager[None]]]

_HANDLER_ATTRIBUTE = "__wakeful_handler__"


@dataclass(frozen=True, slots=True)
class ServiceTag:
    """Which service a handler belongs to (restate-sdk's `restate.handler.ServiceTag`)."""

    kind: ServiceKind
    name: str
    description: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Handler:
    """One handler of a service, with everything the runtime needs to call it.

    The fields are restate-sdk's `restate.handler.Handler`'s; service-level options are already
    merged into the handler's (the handler's own value wins).
    """

    service_tag: ServiceTag
    handler_io: HandlerIO
    kind: HandlerKind
    name: str
    fn: Callable[..., Any]
    arity: int
    description: str | None = None
    metadata: dict[str, str] | None = None
    inactivity_timeout: timedelta | None = None
    abort_timeout: timedelta | None = None
    journal_retention: timedelta | None = None
    idempotency_retention: timedelta | None = None
    workflow_retention: timedelta | None = None
    enable_lazy_state: bool | None = None
    state_preload: bool | list[str] | None = None
    ingress_private: bool | None = None
    invocation_retry_policy: InvocationRetryPolicy | None = None
    context_managers: ContextManagers | None = None
    explicit_recovery: bool = False

    @property
    def service_name(self) -> str:
        """The name of the handler's service."""
        return self.service_tag.name

    @property
    def service_kind(self) -> ServiceKind:
        """service, object or workflow."""
        return self.service_tag.kind

    @property
    def io(self) -> HandlerIO:
        """How the handler's input and output travel (`handler_io`)."""
        return self.handler_io

    @property
    def retry_policy(self) -> InvocationRetryPolicy | None:
        """The invocation retry policy (`invocation_retry_policy`)."""
        return self.invocation_retry_policy

    @property
    def label(self) -> str:
        """`Service/handler`, as used in logs and errors."""
        return f"{self.service_name}/{self.name}"


def check_state_preload_options(
    state_preload: bool | list[str] | None, enable_lazy_state: bool | None
) -> None:
    """Refuse `state_preload` together with its deprecated spelling `enable_lazy_state`."""
    if state_preload is not None and enable_lazy_state is not None:
        raise ValueError(
            "Cannot set both 'state_preload' and the deprecated 'enable_lazy_state'; "
            "use only 'state_preload'."
        )


def handler_of(fn: Callable[..., Any]) -> Handler:
    """The Handler a decorated function was registered as."""
    found = getattr(fn, _HANDLER_ATTRIBUTE, None)
    if not isinstance(found, Handler):
        raise ValueError(f"{fn!r} is not a wakeful handler (decorate it with @service.handler())")
    return found


class _ServiceBase:
    """What services, virtual objects and workflows share."""

    kind: ServiceKind = "service"
    handlers: dict[str, Handler]

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
        self.enable_lazy_state: bool | None = None
        self.state_preload: bool | list[str] | None = None
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
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        context_managers: ContextManagers | None = None,
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
        check_state_preload_options(state_preload, enable_lazy_state)
        if state_preload is None and enable_lazy_state is None:
            state_preload, enable_lazy_state = self.state_preload, self.enable_lazy_state
        handler = Handler(
            service_tag=ServiceTag(self.kind, self.name, self.description, self.metadata),
            handler_io=io,
            kind=kind,
            name=handler_name,
            fn=fn,
            arity=arity,
            description=inspect.getdoc(fn),
            metadata=metadata,
            inactivity_timeout=_first(inactivity_timeout, self.inactivity_timeout),
            abort_timeout=_first(abort_timeout, self.abort_timeout),
            journal_retention=_first(journal_retention, self.journal_retention),
            idempotency_retention=_first(idempotency_retention, self.idempotency_retention),
            workflow_retention=_first(
                workflow_retention, getattr(self, "workflow_retention", None)
            ),
            enable_lazy_state=enable_lazy_state,
            state_preload=state_preload,
            ingress_private=_first(ingress_private, self.ingress_private),
            invocation_retry_policy=_first(invocation_retry_policy, self.invocation_retry_policy),
            context_managers=[*(self.context_managers or []), *(context_managers or [])] or None,
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
                abort_timeout=abort_timeout,
                journal_retention=journal_retention,
                context_managers=invocation_context_managers,
            )

        return decorate


def _first(own: T | None, inherited: T | None) -> T | None:
    """The handler's own option, else the service's."""
    return own if own is not None else inherited


async def call_handler(handler: Handler, ctx: Any, body: bytes) -> bytes:
    """Decode the input, call the handler function, encode its output (400 for an input the
    handler's serde cannot read)."""
    fn: Callable[..., Awaitable[Any]] = handler.fn
    if handler.arity == 2:
        try:
            arg = handler.io.input_serde.deserialize(body)
        except Exception as e:
            raise TerminalError(f"Unable to parse an input argument. {e}", 400) from e
        out = await fn(ctx, arg)
    else:
        out = await fn(ctx)
    return bytes(handler.io.output_serde.serialize(out))
