"""The discovery manifest of an application: Restate's `endpoint_manifest_schema.json` shape.

What restate-sdk answers on `GET /discover`; the server registers an in-process app from the
same document it would fetch from a remote deployment. Like restate-sdk, an input is never
`required` (an empty body reaches the handler as None) and a handler without an input
parameter accepts no body at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from wakeful.sdk.app import AnyService, App
from wakeful.sdk.service import Handler

__all__ = ["MAX_PROTOCOL_VERSION", "MIN_PROTOCOL_VERSION", "manifest_of"]

MIN_PROTOCOL_VERSION = 5
MAX_PROTOCOL_VERSION = 6

_SERVICE_TYPES = {"service": "SERVICE", "object": "VIRTUAL_OBJECT", "workflow": "WORKFLOW"}
_HANDLER_TYPES = {"exclusive": "EXCLUSIVE", "shared": "SHARED", "workflow": "WORKFLOW"}


def manifest_of(app: App) -> dict[str, Any]:
    """The manifest of every service of `app`, as a JSON-ready object."""
    return {
        "protocolMode": "BIDI_STREAM",
        "minProtocolVersion": MIN_PROTOCOL_VERSION,
        "maxProtocolVersion": MAX_PROTOCOL_VERSION,
        "services": [_service(s) for s in app.services.values()],
    }


def _service(service: AnyService) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": service.name,
        "ty": _SERVICE_TYPES[service.kind],
        "handlers": [_handler(h) for h in service.handlers.values()],
    }
    _put(out, "documentation", service.description)
    _put(out, "metadata", service.metadata)
    _put(out, "abortTimeout", _ms(service.abort_timeout))
    _put(out, "journalRetention", _ms(service.journal_retention))
    return out


def _handler(handler: Handler) -> dict[str, Any]:
    io = handler.io
    out: dict[str, Any] = {"name": handler.name}
    if handler.kind is not None:
        out["ty"] = _HANDLER_TYPES[handler.kind]
    if handler.arity == 1:
        out["input"] = {}
    else:
        out["input"] = {
            "required": False,
            "contentType": io.accept,
            "jsonSchema": _schema(io.input_type),
        }
    if io.output_type is None:
        out["output"] = {"setContentTypeIfEmpty": False}
    else:
        out["output"] = {
            "setContentTypeIfEmpty": False,
            "contentType": io.content_type,
            "jsonSchema": _schema(io.output_type),
        }
    _put(out, "metadata", handler.metadata)
    _put(out, "inactivityTimeout", _ms(handler.inactivity_timeout))
    _put(out, "idempotencyRetention", _ms(handler.idempotency_retention))
    _put(out, "workflowCompletionRetention", _ms(handler.workflow_retention))
    _put(out, "ingressPrivate", handler.ingress_private)
    policy = handler.retry_policy
    if policy is not None:
        _put(out, "retryPolicyInitialInterval", _ms(policy.initial_interval))
        _put(out, "retryPolicyMaxInterval", _ms(policy.max_interval))
        _put(out, "retryPolicyMaxAttempts", policy.max_attempts)
        _put(out, "retryPolicyExponentiationFactor", policy.exponentiation_factor)
        if policy.on_max_attempts is not None:
            out["retryPolicyOnMaxAttempts"] = policy.on_max_attempts.upper()
    return out


def _schema(hint: Any) -> Any:
    """A JSON schema of `hint` where one can be derived; `true` (anything) otherwise."""
    schema_of = getattr(hint, "model_json_schema", None)  # pydantic models
    try:
        if callable(schema_of):
            return schema_of()
        return msgspec.json.schema(hint)
    except Exception:  # a type msgspec cannot describe: accept any JSON, as restate-sdk does
        return True


def _ms(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds() * 1000)


def _put(out: dict[str, Any], name: str, value: object) -> None:
    if value is not None:
        out[name] = value
