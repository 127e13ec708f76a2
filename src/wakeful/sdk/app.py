"""`app(services=[...])`: the application object that `wakeful serve` runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from wakeful.sdk.keyed import VirtualObject, Workflow
from wakeful.sdk.service import Handler, Service
from wakeful.sdk.unsupported import JournalValueCodec, JournalValueCodecProvider

__all__ = ["App", "Endpoint", "app"]

AnyService = Service | VirtualObject | Workflow
Protocol = Literal["bidi", "request_response"]


class Endpoint:
    """The services of one application (restate-sdk's `restate.endpoint.Endpoint`).

    `protocol` and `identity_keys` concern remote deployments and change nothing in-process.
    """

    services: dict[str, AnyService]
    protocol: Protocol | None
    identity_keys: list[str]
    journal_value_codec: JournalValueCodec | JournalValueCodecProvider | None

    def __init__(self) -> None:
        self.services = {}
        self.protocol = None
        self.identity_keys = []
        self.journal_value_codec = None

    def bind(self, *services: AnyService) -> Endpoint:
        """Add services; a name can be bound once."""
        for service in services:
            if not isinstance(service, Service | VirtualObject | Workflow):
                raise TypeError(f"not a Service, VirtualObject or Workflow: {service!r}")
            if service.name in self.services:
                raise ValueError(f"service {service.name!r} is bound twice")
            self.services[service.name] = service
        return self

    def streaming_protocol(self) -> Endpoint:
        """Remote deployments only: use the bidirectional protocol."""
        self.protocol = "bidi"
        return self

    def request_response_protocol(self) -> None:
        """Remote deployments only: use the request/response protocol."""
        self.protocol = "request_response"

    def identity_key(self, identity_key: str) -> None:
        """Remote deployments only: accept requests signed with this key."""
        self.identity_keys.append(identity_key)

    def set_journal_value_codec(
        self, codec_or_provider: JournalValueCodec | JournalValueCodecProvider
    ) -> Endpoint:
        """Set a codec for journal values (not applied by wakeful: `wakeful serve` refuses it)."""
        self.journal_value_codec = codec_or_provider
        return self

    def app(self) -> App:
        """The application `wakeful serve` runs."""
        if isinstance(self, App):
            return self
        built = App(self.services.values())
        built.protocol, built.identity_keys = self.protocol, list(self.identity_keys)
        built.journal_value_codec = self.journal_value_codec
        return built


class App(Endpoint):
    """The services of one application, looked up by name."""

    def __init__(self, services: Iterable[AnyService] = ()) -> None:
        super().__init__()
        self.bind(*services)

    def service(self, name: str) -> AnyService | None:
        """The service called `name`, or None."""
        return self.services.get(name)

    def handler(self, service: str, handler: str) -> Handler | None:
        """The handler `service/handler`, or None."""
        found = self.services.get(service)
        return None if found is None else found.handlers.get(handler)


def app(
    services: Iterable[AnyService],
    protocol: Protocol | None = None,
    identity_keys: list[str] | None = None,
    journal_value_codec: JournalValueCodec | JournalValueCodecProvider | None = None,
) -> App:
    """Build the application from its services (`wakeful serve module:app` runs it).

    `protocol` and `identity_keys` concern remote deployments and have no effect in-process;
    a `journal_value_codec` is kept on the app, and `wakeful serve` refuses to start with one
    (wakeful does not transform journal values yet).
    """
    built = App(services)
    built.protocol = protocol
    built.identity_keys = list(identity_keys or [])
    built.journal_value_codec = journal_value_codec
    return built
