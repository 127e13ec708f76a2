"""`app(services=[...])`: the application object that `wakeful serve` runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wakeful.sdk.keyed import VirtualObject, Workflow
from wakeful.sdk.service import Handler, Service

__all__ = ["App", "app"]

AnyService = Service | VirtualObject | Workflow


class App:
    """The services of one application, looked up by name."""

    def __init__(self, services: Iterable[AnyService] = ()) -> None:
        self.services: dict[str, AnyService] = {}
        for service in services:
            self.bind(service)

    def bind(self, *services: AnyService) -> App:
        """Add services; a name can be bound once."""
        for service in services:
            if not isinstance(service, Service | VirtualObject | Workflow):
                raise TypeError(f"not a Service, VirtualObject or Workflow: {service!r}")
            if service.name in self.services:
                raise ValueError(f"service {service.name!r} is bound twice")
            self.services[service.name] = service
        return self

    def service(self, name: str) -> AnyService | None:
        """The service called `name`, or None."""
        return self.services.get(name)

    def handler(self, service: str, handler: str) -> Handler | None:
        """The handler `service/handler`, or None."""
        found = self.services.get(service)
        return None if found is None else found.handlers.get(handler)


def app(
    services: Sequence[AnyService] = (),
    protocol: str | None = None,
    identity_keys: list[str] | None = None,
) -> App:
    """Build the application from its services (`wakeful serve module:app` runs it).

    `protocol` and `identity_keys` are accepted for restate-sdk compatibility; they concern
    remote deployments and have no effect in-process.
    """
    del protocol, identity_keys
    return App(services)
