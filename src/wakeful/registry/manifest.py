"""Restate's endpoint discovery manifest (`endpoint_manifest_schema.json`) as typed structs.

A deployment describes its services with this document; decoding it validates field names and
types (an unknown field, a wrong type or a negative duration is an error), and the registry
turns it into records. Durations are milliseconds, as in the manifest.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "EndpointManifest",
    "HandlerManifest",
    "InputPayload",
    "ManifestError",
    "OutputPayload",
    "ServiceManifest",
    "decode_manifest",
]

ServiceType = Literal["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]
HandlerType = Literal["EXCLUSIVE", "SHARED", "WORKFLOW"]
OnMaxAttempts = Literal["PAUSE", "KILL"]
Millis = Annotated[int, msgspec.Meta(ge=0)]


class ManifestError(ValueError):
    """A manifest that does not follow the schema, or that wakeful cannot serve."""


class _Base(
    msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True, frozen=True
):
    pass


class InputPayload(_Base, frozen=True):
    """What a handler accepts; `{}` (all None) means no input at all."""

    required: bool | None = None
    content_type: str | None = None
    json_schema: Any = None


class OutputPayload(_Base, frozen=True):
    """What a handler answers."""

    content_type: str | None = None
    set_content_type_if_empty: bool | None = None
    json_schema: Any = None


class _Options(_Base, frozen=True, kw_only=True):
    """Options a service sets for all its handlers and a handler may override."""

    documentation: str | None = None
    metadata: dict[str, str] | None = None
    inactivity_timeout: Millis | None = None
    abort_timeout: Millis | None = None
    journal_retention: Millis | None = None
    idempotency_retention: Millis | None = None
    enable_lazy_state: bool | None = None
    ingress_private: bool | None = None
    retry_policy_initial_interval: Millis | None = None
    retry_policy_max_interval: Millis | None = None
    retry_policy_max_attempts: Millis | None = None
    retry_policy_exponentiation_factor: float | None = None
    retry_policy_on_max_attempts: OnMaxAttempts | None = None


class HandlerManifest(_Options, frozen=True, kw_only=True):
    """One handler of a service."""

    name: str
    ty: HandlerType | None = None
    # The schema's defaults when absent: any content type, input not required; JSON output.
    input: InputPayload = InputPayload(content_type="*/*", required=False)
    output: OutputPayload = OutputPayload(content_type="application/json")
    workflow_completion_retention: Millis | None = None


class ServiceManifest(_Options, frozen=True, kw_only=True):
    """One service of a deployment."""

    name: str
    ty: ServiceType
    handlers: list[HandlerManifest]


class EndpointManifest(_Base, frozen=True, kw_only=True):
    """The whole discovery document of one deployment."""

    min_protocol_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    max_protocol_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    services: list[ServiceManifest]
    protocol_mode: Literal["BIDI_STREAM", "REQUEST_RESPONSE"] | None = None
    lambda_compression: Literal["zstd"] | None = None


def decode_manifest(document: bytes | dict[str, Any]) -> EndpointManifest:
    """Decode and validate a manifest (JSON bytes, or the already parsed object)."""
    try:
        if isinstance(document, bytes | bytearray):
            return msgspec.json.decode(document, type=EndpointManifest)
        return msgspec.convert(document, EndpointManifest)
    except msgspec.ValidationError as e:
        raise ManifestError(f"invalid endpoint manifest: {e}") from e
    except msgspec.DecodeError as e:
        raise ManifestError(f"endpoint manifest is not JSON: {e}") from e
