"""The deployments a server knows, durable, and the services they put in the registry.

Registering runs discovery, stores the deployment, then registers its manifest's services in
the service registry under the deployment's id, so the ingress, the admin API and the engine
see remote services exactly like in-process ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from wakeful.clock import SYSTEM_CLOCK, Clock
from wakeful.deployments.model import Deployment, new_deployment_id
from wakeful.deployments.store import DeploymentStore
from wakeful.errors import WakefulError
from wakeful.protocol.discovery import DiscoveryError, discover
from wakeful.registry import IN_PROCESS, ManifestError, Registry, records_from_manifest
from wakeful.registry.manifest import EndpointManifest

__all__ = ["Deployments", "Registered", "RegistrationError"]

log = logging.getLogger(__name__)

Registered = Literal["created", "unchanged", "overwritten"]


class RegistrationError(WakefulError):
    """A registration that cannot be applied: HTTP status and Restate's error code."""

    def __init__(self, status: int, message: str, restate_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.restate_code = restate_code


class Deployments:
    """Registered deployments (durable) and the services they serve in the registry."""

    def __init__(
        self,
        registry: Registry,
        store: DeploymentStore,
        on_bind: Callable[[str], None] = lambda deployment_id: None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.registry = registry
        self.store = store
        self.deployments: dict[str, Deployment] = {}
        self._on_bind = on_bind  # a deployment's services can be invoked from now on

    def open(self) -> list[Deployment]:
        """Load the stored deployments and register their services (the newest wins)."""
        for deployment in sorted(self.store.open(), key=lambda d: d.created_at_ms):
            self._bind(deployment)
        return list(self.deployments.values())

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def serving(self, service: str) -> Deployment | None:
        """The deployment that serves `service` now, or None (in-process or unknown)."""
        record = self.registry.service(service)
        return None if record is None else self.deployments.get(record.deployment)

    async def register(
        self, uri: str, headers: dict[str, str], use_http_11: bool, force: bool
    ) -> tuple[Registered, Deployment]:
        """Discover the endpoint at `uri` and register it (Restate's rules for re-registering:
        the same endpoint again is unchanged, or replaced with `force`)."""
        try:
            manifest = await discover(uri, headers, use_http_11)
        except DiscoveryError as e:
            raise RegistrationError(500, str(e), "META0003") from e
        existing = self._same_endpoint(uri, headers)
        if existing is not None and not force:
            return "unchanged", existing
        self._check(manifest, existing, force)
        deployment = Deployment(
            id=existing.id if existing is not None else new_deployment_id(),
            uri=uri,
            use_http_11=use_http_11,
            additional_headers=headers,
            created_at_ms=self.clock.now_ms(),
            manifest=manifest,
        )
        await self.store.put(deployment)
        if existing is not None:
            self._unbind(existing)
        self._bind(deployment)
        return ("overwritten" if existing is not None else "created"), deployment

    async def delete(self, deployment_id: str) -> None:
        """Forget a deployment and the services it serves."""
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            raise RegistrationError(
                404, f"The requested deployment '{deployment_id}' does not exist"
            )
        await self.store.delete(deployment_id)
        self._unbind(deployment)

    def _same_endpoint(self, uri: str, headers: dict[str, str]) -> Deployment | None:
        same = [
            d
            for d in self.deployments.values()
            if d.uri.rstrip("/") == uri.rstrip("/") and d.additional_headers == headers
        ]
        return max(same, key=lambda d: d.created_at_ms) if same else None

    def _check(self, manifest: EndpointManifest, existing: Deployment | None, force: bool) -> None:
        try:
            records_from_manifest(manifest, "check")
        except ManifestError as e:
            raise RegistrationError(400, str(e)) from e
        for service in manifest.services:
            current = self.registry.service(service.name)
            if current is None:
                continue
            if current.deployment == IN_PROCESS:
                raise RegistrationError(
                    409,
                    f"cannot register service '{service.name}': an in-process service of the "
                    "application has that name",
                )
            if current.ty != service.ty and not force:
                raise RegistrationError(
                    409,
                    f"detected a new service revision for '{service.name}' changing the service "
                    "type from previous revision. Service type cannot be changed across "
                    "revisions.",
                    "META0006",
                )

    def _bind(self, deployment: Deployment) -> None:
        self.deployments[deployment.id] = deployment
        self._on_bind(deployment.id)
        for record in self.registry.register(deployment.manifest, deployment.id):
            log.info("service %s is served by deployment %s", record.name, deployment.id)

    def _unbind(self, deployment: Deployment) -> None:
        self.deployments.pop(deployment.id, None)
        self.registry.remove_deployment(deployment.id)
        # Services an older deployment also serves go back to it, the newest first.
        for other in sorted(self.deployments.values(), key=lambda d: -d.created_at_ms):
            for service in other.manifest.services:
                if self.registry.service(service.name) is None:
                    one = EndpointManifest(
                        min_protocol_version=other.manifest.min_protocol_version,
                        max_protocol_version=other.manifest.max_protocol_version,
                        services=[service],
                        protocol_mode=other.manifest.protocol_mode,
                    )
                    self.registry.register(one, other.id)
