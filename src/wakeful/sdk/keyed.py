"""`VirtualObject` and `Workflow` definitions (keyed services).

Virtual objects keep durable state per key and run their exclusive handlers one at a time per
key; workflows run `run` once per key and share durable promises between their handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.serde import DefaultSerde, Serde
from wakeful.sdk.service import (
    ContextManagers,
    ServiceKind,
    _ServiceBase,
    check_state_preload_options,
)

__all__ = ["VirtualObject", "Workflow"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class _Extra:
    """Handler options passed through `Workflow._decorator` unchanged."""

    abort_timeout: timedelta | None
    journal_retention: timedelta | None
    idempotency_retention: timedelta | None
    enable_lazy_state: bool | None
    state_preload: bool | list[str] | None
    context_managers: ContextManagers | None


class VirtualObject(_ServiceBase):
    """A keyed service whose exclusive handlers run one at a time per key, with durable state."""

    kind: ServiceKind = "object"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
    ) -> None:
        super().__init__(
            name, description, metadata, inactivity_timeout, abort_timeout, journal_retention,
            idempotency_retention, ingress_private, invocation_retry_policy,
            invocation_context_managers,
        )  # fmt: skip
        check_state_preload_options(state_preload, enable_lazy_state)
        self.enable_lazy_state, self.state_preload = enable_lazy_state, state_preload

    def handler(
        self,
        name: str | None = None,
        kind: Literal["exclusive", "shared"] = "exclusive",
        accept: str = "application/json",
        content_type: str = "application/json",
        input_serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - immutable default
        output_serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - immutable default
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
    ) -> Callable[[F], F]:
        """Register an exclusive (default) or shared handler of this object."""

        def decorate(fn: F) -> F:
            return self._register(
                fn,
                name=name,
                kind=kind,
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
                enable_lazy_state=enable_lazy_state,
                state_preload=state_preload,
                context_managers=invocation_context_managers,
            )

        return decorate


class Workflow(_ServiceBase):
    """A keyed service whose `run` handler runs once per key, with durable promises."""

    kind: ServiceKind = "workflow"

    def __init__(
        self,
        name: str,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        inactivity_timeout: timedelta | None = None,
        abort_timeout: timedelta | None = None,
        journal_retention: timedelta | None = None,
        idempotency_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
        *,
        workflow_retention: timedelta | None = None,
    ) -> None:
        super().__init__(
            name,
            description,
            metadata,
            inactivity_timeout,
            abort_timeout,
            journal_retention,
            idempotency_retention,
            ingress_private,
            invocation_retry_policy,
            invocation_context_managers,
        )
        check_state_preload_options(state_preload, enable_lazy_state)
        self.enable_lazy_state, self.state_preload = enable_lazy_state, state_preload
        # wakeful's own service-level default (restate-sdk sets it per run handler only)
        self.workflow_retention = workflow_retention

    def main(
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
        workflow_retention: timedelta | None = None,
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
    ) -> Callable[[F], F]:
        """Register the workflow's run handler (runs at most once per workflow key)."""
        return self._decorator(
            name, "workflow", accept, content_type, input_serde, output_serde, metadata,
            inactivity_timeout, ingress_private, invocation_retry_policy, workflow_retention,
            _Extra(abort_timeout, journal_retention, None, enable_lazy_state, state_preload,
                   invocation_context_managers),
        )  # fmt: skip

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
        enable_lazy_state: bool | None = None,
        state_preload: bool | list[str] | None = None,
        ingress_private: bool | None = None,
        invocation_retry_policy: InvocationRetryPolicy | None = None,
        invocation_context_managers: ContextManagers | None = None,
    ) -> Callable[[F], F]:
        """Register a shared handler of the workflow (callable any time during retention)."""
        return self._decorator(
            name, "shared", accept, content_type, input_serde, output_serde, metadata,
            inactivity_timeout, ingress_private, invocation_retry_policy, None,
            _Extra(abort_timeout, journal_retention, idempotency_retention, enable_lazy_state,
                   state_preload, invocation_context_managers),
        )  # fmt: skip

    def _decorator(
        self,
        name: str | None,
        kind: Literal["workflow", "shared"],
        accept: str,
        content_type: str,
        input_serde: Serde[Any],
        output_serde: Serde[Any],
        metadata: dict[str, str] | None,
        inactivity_timeout: timedelta | None,
        ingress_private: bool | None,
        invocation_retry_policy: InvocationRetryPolicy | None,
        workflow_retention: timedelta | None,
        extra: _Extra,
    ) -> Callable[[F], F]:
        def decorate(fn: F) -> F:
            return self._register(
                fn,
                name=name,
                kind=kind,
                accept=accept,
                content_type=content_type,
                input_serde=input_serde,
                output_serde=output_serde,
                metadata=metadata,
                inactivity_timeout=inactivity_timeout,
                idempotency_retention=extra.idempotency_retention,
                ingress_private=ingress_private,
                invocation_retry_policy=invocation_retry_policy,
                workflow_retention=workflow_retention,
                abort_timeout=extra.abort_timeout,
                journal_retention=extra.journal_retention,
                enable_lazy_state=extra.enable_lazy_state,
                state_preload=extra.state_preload,
                context_managers=extra.context_managers,
            )

        return decorate
