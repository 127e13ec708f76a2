"""The service registry: services and handlers the server can invoke, and who serves them."""

from __future__ import annotations

from collections.abc import Iterator

from wakeful.engine.model import HandlerKind, Target
from wakeful.registry.manifest import (
    EndpointManifest,
    HandlerManifest,
    ManifestError,
    ServiceManifest,
)
from wakeful.registry.records import (
    HandlerRecord,
    InputRules,
    OutputRules,
    RetryOverrides,
    ServiceRecord,
)

__all__ = ["Registry", "records_from_manifest"]

_KINDS: dict[tuple[str, str | None], HandlerKind] = {
    ("SERVICE", None): HandlerKind.SERVICE,
    ("VIRTUAL_OBJECT", "EXCLUSIVE"): HandlerKind.EXCLUSIVE,
    ("VIRTUAL_OBJECT", None): HandlerKind.EXCLUSIVE,  # Restate's default for objects
    ("VIRTUAL_OBJECT", "SHARED"): HandlerKind.SHARED,
    ("WORKFLOW", "WORKFLOW"): HandlerKind.WORKFLOW,
    ("WORKFLOW", "SHARED"): HandlerKind.WORKFLOW_SHARED,
    ("WORKFLOW", None): HandlerKind.WORKFLOW_SHARED,
}


class Registry:
    """Services by name. Registering a deployment replaces the services it serves."""

    def __init__(self) -> None:
        self._services: dict[str, ServiceRecord] = {}

    def register(self, manifest: EndpointManifest, deployment: str) -> list[ServiceRecord]:
        """Add (or replace) every service of `manifest`, served by `deployment`."""
        records = records_from_manifest(manifest, deployment)
        for record in records:
            self._services[record.name] = record
        return records

    def remove_deployment(self, deployment: str) -> None:
        """Forget the services `deployment` serves."""
        for name in [n for n, s in self._services.items() if s.deployment == deployment]:
            del self._services[name]

    def service(self, name: str) -> ServiceRecord | None:
        """The service called `name`, or None."""
        return self._services.get(name)

    def handler(self, service: str, handler: str) -> HandlerRecord | None:
        """The handler `service/handler`, or None."""
        found = self._services.get(service)
        return None if found is None else found.handlers.get(handler)

    def handler_kind(self, target: Target) -> HandlerKind | None:
        """The engine's kind of the handler `target` names, or None if there is none."""
        found = self.handler(target.service, target.handler)
        return None if found is None else found.kind

    def __iter__(self) -> Iterator[ServiceRecord]:
        return iter(list(self._services.values()))

    def __len__(self) -> int:
        return len(self._services)


def records_from_manifest(manifest: EndpointManifest, deployment: str) -> list[ServiceRecord]:
    """The records of a manifest's services; ManifestError for what cannot be served."""
    seen: set[str] = set()
    records = []
    for service in manifest.services:
        if service.name in seen:
            raise ManifestError(f"service {service.name!r} is defined twice")
        seen.add(service.name)
        records.append(_service_record(service, deployment))
    return records


def _service_record(service: ServiceManifest, deployment: str) -> ServiceRecord:
    handlers: dict[str, HandlerRecord] = {}
    for handler in service.handlers:
        if handler.name in handlers:
            raise ManifestError(f"handler {service.name}/{handler.name} is defined twice")
        handlers[handler.name] = _handler_record(service, handler, deployment)
    return ServiceRecord(
        name=service.name,
        ty=service.ty,
        deployment=deployment,
        handlers=handlers,
        public=not service.ingress_private,
        documentation=service.documentation,
        metadata=dict(service.metadata or {}),
    )


def _handler_record(
    service: ServiceManifest, handler: HandlerManifest, deployment: str
) -> HandlerRecord:
    kind = _KINDS.get((service.ty, handler.ty))
    if kind is None:
        raise ManifestError(
            f"handler {service.name}/{handler.name}: type {handler.ty} is not allowed in a "
            f"{service.ty}"
        )

    def pick(name: str) -> object:
        own = getattr(handler, name)
        return own if own is not None else getattr(service, name)

    private = pick("ingress_private")
    on_max = pick("retry_policy_on_max_attempts")
    return HandlerRecord(
        service=service.name,
        name=handler.name,
        kind=kind,
        deployment=deployment,
        input=InputRules(
            required=bool(handler.input.required),
            content_type=handler.input.content_type,
            json_schema=handler.input.json_schema,
        ),
        output=OutputRules(
            content_type=handler.output.content_type,
            set_content_type_if_empty=bool(handler.output.set_content_type_if_empty),
            json_schema=handler.output.json_schema,
        ),
        public=not private,
        inactivity_timeout_ms=_int(pick("inactivity_timeout")),
        abort_timeout_ms=_int(pick("abort_timeout")),
        journal_retention_ms=_int(pick("journal_retention")),
        idempotency_retention_ms=_int(pick("idempotency_retention")),
        workflow_retention_ms=handler.workflow_completion_retention,
        enable_lazy_state=handler.enable_lazy_state
        if handler.enable_lazy_state is not None
        else service.enable_lazy_state,
        retry=RetryOverrides(
            initial_interval_ms=_int(pick("retry_policy_initial_interval")),
            max_interval_ms=_int(pick("retry_policy_max_interval")),
            max_attempts=_int(pick("retry_policy_max_attempts")),
            exponentiation_factor=_float(pick("retry_policy_exponentiation_factor")),
            on_max_attempts=None if on_max is None else "kill" if on_max == "KILL" else "pause",
        ),
        documentation=handler.documentation,
        metadata=dict(handler.metadata or {}),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
