"""The deployments a server knows, and the services they bring into its application.

Registering a deployment runs discovery and binds one service object per manifest service
into the application, so the ingress, the admin API and the engine see remote services exactly
like in-process ones; `target()` says which deployment serves a service.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any, Literal

from wakeful.deployments.model import Deployment, new_deployment_id
from wakeful.deployments.store import DeploymentStore
from wakeful.errors import WakefulError
from wakeful.protocol.discovery import (
    DiscoveryError,
    EndpointManifest,
    HandlerManifest,
    ServiceManifest,
    discover,
)
from wakeful.sdk.app import AnyService, App
from wakeful.sdk.handler_io import HandlerIO
from wakeful.sdk.keyed import VirtualObject, Workflow
from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.serde import BytesSerde
from wakeful.sdk.service import Handler, Service

__all__ = ["DeploymentRegistry", "Registered", "RegistrationError"]

log = logging.getLogger(__name__)

Registered = Literal["created", "unchanged", "overwritten"]


class RegistrationError(WakefulError):
    """A registration that cannot be applied: HTTP status and Restate's error code."""

    def __init__(self, status: int, message: str, restate_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.restate_code = restate_code


async def _remote_handler(ctx: Any, body: bytes) -> bytes:
    """Stands in for a handler that runs on a remote deployment; never called in-process."""
    raise RuntimeError("a remote handler is invoked through its deployment")


class DeploymentRegistry:
    """Registered deployments, durable, and their services bound into the application."""

    def __init__(self, app: App, store: DeploymentStore) -> None:
        self.app = app
        self.store = store
        self.deployments: dict[str, Deployment] = {}
        self._by_service: dict[str, str] = {}  # service name -> deployment id

    def open(self) -> None:
        """Load the stored deployments and bind their services (oldest first, newest wins)."""
        for deployment in sorted(self.store.open(), key=lambda d: d.created_at_ms):
            self._bind(deployment)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def target(self, service: str) -> Deployment | None:
        """The deployment that serves `service` now, or None for an in-process service."""
        deployment_id = self._by_service.get(service)
        return None if deployment_id is None else self.deployments.get(deployment_id)

    async def register(
        self, uri: str, headers: dict[str, str], use_http_11: bool, force: bool
    ) -> tuple[Registered, Deployment]:
        """Discover the endpoint at `uri` and register it (Restate's rules for re-registering)."""
        try:
            manifest = await discover(uri, headers, use_http_11)
        except DiscoveryError as e:
            raise RegistrationError(500, str(e), "META0003") from e
        existing = self._same_endpoint(uri, headers)
        if existing is not None and not force:
            return "unchanged", existing
        self._check_services(manifest, existing, force)
        deployment = Deployment(
            id=existing.id if existing is not None else new_deployment_id(),
            uri=uri,
            use_http_11=use_http_11,
            additional_headers=headers,
            created_at_ms=int(time.time() * 1000),
            manifest=manifest,
        )
        await self.store.put(deployment)
        if existing is not None:
            self._unbind(existing)
        self._bind(deployment)
        return ("overwritten" if existing is not None else "created"), deployment

    async def delete(self, deployment_id: str) -> None:
        """Forget a deployment and unbind the services it serves."""
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            raise RegistrationError(
                404, f"The requested deployment '{deployment_id}' does not exist"
            )
        await self.store.delete(deployment_id)
        self._unbind(deployment)

    # -- checks ---------------------------------------------------------------------------

    def _same_endpoint(self, uri: str, headers: dict[str, str]) -> Deployment | None:
        same = [
            d
            for d in self.deployments.values()
            if d.uri.rstrip("/") == uri.rstrip("/") and d.additional_headers == headers
        ]
        return max(same, key=lambda d: d.created_at_ms) if same else None

    def _check_services(
        self, manifest: EndpointManifest, existing: Deployment | None, force: bool
    ) -> None:
        for service in manifest.services:
            current = self.app.service(service.name)
            if current is None:
                continue
            if self.target(service.name) is None:
                raise RegistrationError(
                    409,
                    f"cannot register service '{service.name}': an in-process service of the "
                    "application has that name",
                )
            if current.kind != _KINDS[service.ty] and not force:
                raise RegistrationError(
                    409,
                    f"detected a new service revision for '{service.name}' changing the service "
                    "type from previous revision. Service type cannot be changed across "
                    "revisions.",
                    "META0006",
                )

    # -- binding into the application -----------------------------------------------------

    def _bind(self, deployment: Deployment) -> None:
        self.deployments[deployment.id] = deployment
        for manifest in deployment.manifest.services:
            previous = self._by_service.get(manifest.name)
            if previous is not None and previous != deployment.id:
                # New invocations go to the new deployment; running ones stay pinned.
                log.info("service %s moves from %s to %s", manifest.name, previous, deployment.id)
            self.app.services[manifest.name] = _service_of(manifest)
            self._by_service[manifest.name] = deployment.id

    def _unbind(self, deployment: Deployment) -> None:
        self.deployments.pop(deployment.id, None)
        for name in deployment.service_names:
            if self._by_service.get(name) == deployment.id:
                del self._by_service[name]
                self.app.services.pop(name, None)
                # An older deployment that also serves it takes over.
                for other in sorted(self.deployments.values(), key=lambda d: -d.created_at_ms):
                    if name in other.service_names:
                        manifest = next(s for s in other.manifest.services if s.name == name)
                        self.app.services[name] = _service_of(manifest)
                        self._by_service[name] = other.id
                        break


_KINDS = {"SERVICE": "service", "VIRTUAL_OBJECT": "object", "WORKFLOW": "workflow"}
_HANDLER_KINDS: dict[str, Literal["exclusive", "shared", "workflow"]] = {
    "EXCLUSIVE": "exclusive",
    "SHARED": "shared",
    "WORKFLOW": "workflow",
}


def _ms(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(milliseconds=value)


def _retry_policy(h: HandlerManifest, s: ServiceManifest) -> InvocationRetryPolicy | None:
    def pick(name: str) -> Any:
        value = getattr(h, name)
        return getattr(s, name) if value is None else value

    fields = {
        "initial_interval": _ms(pick("retryPolicyInitialInterval")),
        "exponentiation_factor": pick("retryPolicyExponentiationFactor"),
        "max_interval": _ms(pick("retryPolicyMaxInterval")),
        "max_attempts": pick("retryPolicyMaxAttempts"),
        "on_max_attempts": pick("retryPolicyOnMaxAttempts"),
    }
    if all(v is None for v in fields.values()):
        return None
    return InvocationRetryPolicy(**fields)


def _service_of(manifest: ServiceManifest) -> AnyService:
    """A service object standing for a remote service: its handlers, kinds and options."""
    service: AnyService
    match manifest.ty:
        case "VIRTUAL_OBJECT":
            service = VirtualObject(manifest.name)
        case "WORKFLOW":
            service = Workflow(manifest.name)
        case _:
            service = Service(manifest.name)
    service.description = manifest.documentation
    service.metadata = manifest.metadata
    kind = _KINDS[manifest.ty]
    for h in manifest.handlers:
        handler_kind = None if kind == "service" else _HANDLER_KINDS.get(h.ty or "EXCLUSIVE")
        if kind == "workflow" and handler_kind == "exclusive":
            handler_kind = "shared"
        accept = str((h.input or {}).get("contentType") or "*/*")
        content_type = str((h.output or {}).get("contentType") or "application/json")
        inactivity = h.inactivityTimeout
        if inactivity is None:
            inactivity = manifest.inactivityTimeout
        service.handlers[h.name] = Handler(
            service_name=manifest.name,
            service_kind=kind,  # type: ignore[arg-type]  # one of the three ServiceKind values
            name=h.name,
            fn=_remote_handler,
            io=HandlerIO(accept, content_type, BytesSerde(), BytesSerde()),
            arity=2,
            kind=handler_kind,
            inactivity_timeout=_ms(inactivity),
            retry_policy=_retry_policy(h, manifest),
            idempotency_retention=_ms(h.idempotencyRetention or manifest.idempotencyRetention),
            ingress_private=h.ingressPrivate
            if h.ingressPrivate is not None
            else manifest.ingressPrivate,
            metadata=h.metadata,
            workflow_retention=_ms(h.workflowCompletionRetention),
        )
    return service
