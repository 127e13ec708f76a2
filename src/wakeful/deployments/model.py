"""A registered deployment: where it is, how to speak to it, what it serves."""

from __future__ import annotations

import secrets

import msgspec

from wakeful.protocol.version import choose_version
from wakeful.registry.manifest import EndpointManifest

__all__ = ["Deployment", "new_deployment_id"]

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_deployment_id() -> str:
    """A fresh id shaped like Restate's (`dp_1` + base62 of 128 random bits)."""
    n = int.from_bytes(secrets.token_bytes(16), "big")
    digits = []
    for _ in range(22):
        n, digit = divmod(n, 62)
        digits.append(_B62[digit])
    return "dp_1" + "".join(digits)


class Deployment(msgspec.Struct, frozen=True):
    """One registered endpoint and the manifest it answered discovery with."""

    id: str
    uri: str
    use_http_11: bool
    additional_headers: dict[str, str]
    created_at_ms: int
    manifest: EndpointManifest

    @property
    def protocol_version(self) -> int:
        """The service protocol version every invocation on it speaks."""
        return choose_version(
            self.manifest.min_protocol_version, self.manifest.max_protocol_version
        )

    @property
    def service_names(self) -> list[str]:
        """The names of the services it serves."""
        return [s.name for s in self.manifest.services]
