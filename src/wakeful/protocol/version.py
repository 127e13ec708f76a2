"""Protocol versions: which ones wakeful speaks and how they are negotiated.

The invocation protocol version travels in the `content-type` of the invoke request; the
discovery manifest version in `accept` (offered) and `content-type` (chosen).
"""

from __future__ import annotations

import re

from wakeful.errors import WakefulError

__all__ = [
    "DISCOVERY_ACCEPT",
    "MAX_VERSION",
    "MIN_VERSION",
    "UnsupportedVersionError",
    "choose_version",
    "content_type",
    "manifest_version",
    "parse_content_type",
]

MIN_VERSION = 5
MAX_VERSION = 7
_INVOCATION = "application/vnd.restate.invocation.v"
_MANIFEST = re.compile(r"application/vnd\.restate\.endpointmanifest\.v(\d+)\+json")
MANIFEST_VERSIONS = (4, 3, 2, 1)
DISCOVERY_ACCEPT = ", ".join(
    f"application/vnd.restate.endpointmanifest.v{v}+json" for v in MANIFEST_VERSIONS
)


class UnsupportedVersionError(WakefulError):
    """The endpoint and wakeful share no protocol version."""


def content_type(version: int) -> str:
    """The content type of invocation protocol `version`."""
    return f"{_INVOCATION}{version}"


def parse_content_type(value: str) -> int | None:
    """The invocation protocol version of a content type, or None if it is not one."""
    mime = value.split(";", 1)[0].strip().lower()
    if not mime.startswith(_INVOCATION):
        return None
    digits = mime[len(_INVOCATION) :]
    return int(digits) if digits.isdigit() else None


def choose_version(endpoint_min: int, endpoint_max: int) -> int:
    """The highest version both sides support."""
    if endpoint_min > endpoint_max:
        raise UnsupportedVersionError(
            f"the endpoint's protocol range {endpoint_min}..{endpoint_max} is empty"
        )
    chosen = min(endpoint_max, MAX_VERSION)
    if chosen < max(endpoint_min, MIN_VERSION):
        raise UnsupportedVersionError(
            f"the endpoint supports service protocol versions {endpoint_min}..{endpoint_max}, "
            f"wakeful supports {MIN_VERSION}..{MAX_VERSION}"
        )
    return chosen


def manifest_version(value: str | None) -> int | None:
    """The endpoint manifest version named by a discovery answer's content type."""
    if value is None:
        return None
    found = _MANIFEST.search(value.lower())
    return int(found.group(1)) if found else None
