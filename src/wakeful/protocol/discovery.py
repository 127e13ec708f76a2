"""Discovery: ask an endpoint which services it serves (`GET {uri}/discover`) and read its
endpoint manifest (`application/vnd.restate.endpointmanifest.vN+json`)."""

from __future__ import annotations

from typing import Any, Literal

import httpx
import msgspec

from wakeful.errors import WakefulError
from wakeful.protocol.version import DISCOVERY_ACCEPT, choose_version, manifest_version

__all__ = [
    "DiscoveryError",
    "EndpointManifest",
    "HandlerManifest",
    "ServiceManifest",
    "discover",
    "parse_manifest",
]

ServiceType = Literal["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]
HandlerType = Literal["EXCLUSIVE", "SHARED", "WORKFLOW"]


class DiscoveryError(WakefulError):
    """Discovery failed: the endpoint is unreachable, or its answer is unusable."""


class HandlerManifest(msgspec.Struct, frozen=True, omit_defaults=True):
    """One handler as the endpoint describes it (times in milliseconds; the field names are
    the manifest's JSON names)."""

    name: str
    ty: HandlerType | None = None
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    documentation: str | None = None
    metadata: dict[str, str] | None = None
    inactivityTimeout: int | None = None
    abortTimeout: int | None = None
    journalRetention: int | None = None
    idempotencyRetention: int | None = None
    workflowCompletionRetention: int | None = None
    enableLazyState: bool | None = None
    ingressPrivate: bool | None = None
    retryPolicyInitialInterval: int | None = None
    retryPolicyMaxInterval: int | None = None
    retryPolicyMaxAttempts: int | None = None
    retryPolicyExponentiationFactor: float | None = None
    retryPolicyOnMaxAttempts: str | None = None


class ServiceManifest(msgspec.Struct, frozen=True, omit_defaults=True):
    """One service of the endpoint, with its handlers and service-level options."""

    name: str
    ty: ServiceType
    handlers: list[HandlerManifest]
    documentation: str | None = None
    metadata: dict[str, str] | None = None
    inactivityTimeout: int | None = None
    abortTimeout: int | None = None
    journalRetention: int | None = None
    idempotencyRetention: int | None = None
    enableLazyState: bool | None = None
    ingressPrivate: bool | None = None
    retryPolicyInitialInterval: int | None = None
    retryPolicyMaxInterval: int | None = None
    retryPolicyMaxAttempts: int | None = None
    retryPolicyExponentiationFactor: float | None = None
    retryPolicyOnMaxAttempts: str | None = None


class EndpointManifest(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an endpoint serves and how it wants to be spoken to."""

    protocolMode: Literal["BIDI_STREAM", "REQUEST_RESPONSE"] | None = None
    minProtocolVersion: int = 5
    maxProtocolVersion: int = 5
    services: list[ServiceManifest] = msgspec.field(default_factory=list)
    lambdaCompression: str | None = None

    @property
    def bidi(self) -> bool:
        """True when the endpoint streams both ways (HTTP/2), False for request/response."""
        return self.protocolMode != "REQUEST_RESPONSE"


def parse_manifest(body: bytes) -> EndpointManifest:
    """Decode and check a manifest; DiscoveryError names what is wrong."""
    try:
        manifest = msgspec.json.decode(body, type=EndpointManifest)
    except msgspec.ValidationError as e:
        raise DiscoveryError(f"the endpoint manifest is invalid: {e}") from e
    except msgspec.DecodeError as e:
        raise DiscoveryError(f"the endpoint manifest is not JSON: {e}") from e
    try:
        choose_version(manifest.minProtocolVersion, manifest.maxProtocolVersion)
    except WakefulError as e:
        raise DiscoveryError(str(e)) from e
    names = [s.name for s in manifest.services]
    if len(set(names)) != len(names):
        raise DiscoveryError("the endpoint manifest lists a service twice")
    return manifest


def http_client(use_http_11: bool, timeout: float | None = 30.0) -> httpx.AsyncClient:
    """A client speaking HTTP/1.1, or HTTP/2 with prior knowledge (h2c) like Restate does."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    if use_http_11:
        return httpx.AsyncClient(timeout=timeout, limits=limits)
    return httpx.AsyncClient(http1=False, http2=True, timeout=timeout, limits=limits)


DISCOVERY_TIMEOUT_S = 10.0


async def discover(uri: str, headers: dict[str, str], use_http_11: bool) -> EndpointManifest:
    """Fetch and parse the manifest of the endpoint at `uri`."""
    url = uri.rstrip("/") + "/discover"
    request_headers = {**headers, "accept": DISCOVERY_ACCEPT}
    async with http_client(use_http_11, DISCOVERY_TIMEOUT_S) as client:
        try:
            response = await client.get(url, headers=request_headers)
        except httpx.HTTPError as e:
            mode = "HTTP/1.1" if use_http_11 else "HTTP/2 (h2c)"
            raise DiscoveryError(
                f"cannot reach the deployment at {url} over {mode}: {type(e).__name__}: {e}"
            ) from e
    if response.status_code != 200:
        raise DiscoveryError(
            f"the deployment answered discovery with {response.status_code}: {response.text[:500]}"
        )
    version = manifest_version(response.headers.get("content-type"))
    if version is None:
        raise DiscoveryError(
            "the deployment's discovery answer has no endpoint manifest content type: "
            f"{response.headers.get('content-type')!r}"
        )
    return parse_manifest(response.content)
