"""Discovery: ask an endpoint which services it serves (`GET {uri}/discover`) and read its
endpoint manifest (`application/vnd.restate.endpointmanifest.vN+json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wakeful.errors import WakefulError
from wakeful.protocol.version import DISCOVERY_ACCEPT, choose_version, manifest_version
from wakeful.registry.manifest import EndpointManifest, ManifestError, decode_manifest

if TYPE_CHECKING:
    import httpx

__all__ = ["DiscoveryError", "discover", "http_client", "is_bidi", "parse_manifest"]


class DiscoveryError(WakefulError):
    """Discovery failed: the endpoint is unreachable, or its answer is unusable."""


def parse_manifest(body: bytes) -> EndpointManifest:
    """Decode and check a manifest; DiscoveryError names what is wrong."""
    try:
        manifest = decode_manifest(body)
    except ManifestError as e:
        raise DiscoveryError(str(e)) from e
    try:
        choose_version(manifest.min_protocol_version, manifest.max_protocol_version)
    except WakefulError as e:
        raise DiscoveryError(str(e)) from e
    names = [s.name for s in manifest.services]
    if len(set(names)) != len(names):
        raise DiscoveryError("the endpoint manifest lists a service twice")
    return manifest


def is_bidi(manifest: EndpointManifest) -> bool:
    """True when the endpoint streams both ways (HTTP/2), False for request/response."""
    return manifest.protocol_mode != "REQUEST_RESPONSE"


def http_client(use_http_11: bool, timeout: float | None = 30.0) -> httpx.AsyncClient:
    """A client speaking HTTP/1.1, or HTTP/2 with prior knowledge (h2c) like Restate does."""
    # Imported here: only registration needs it, and it costs a server without deployments
    # a large share of its start-up time.
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    if use_http_11:
        return httpx.AsyncClient(timeout=timeout, limits=limits)
    return httpx.AsyncClient(http1=False, http2=True, timeout=timeout, limits=limits)


DISCOVERY_TIMEOUT_S = 10.0


async def discover(uri: str, headers: dict[str, str], use_http_11: bool) -> EndpointManifest:
    """Fetch and parse the manifest of the endpoint at `uri`."""
    url = uri.rstrip("/") + "/discover"
    import httpx  # see http_client

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
