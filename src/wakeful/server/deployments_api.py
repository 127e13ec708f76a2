"""Admin API for deployments and services, in Restate's shapes.

`POST /deployments` registers (201 created; 200 when the same endpoint is registered again,
unchanged without `force`, services replaced with it), `GET /deployments[/{id}]`,
`DELETE /deployments/{id}?force=true` (202), `GET /services[/{name}]`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec

from wakeful.deployments.model import Deployment
from wakeful.deployments.registry import Deployments, RegistrationError
from wakeful.engine.model import HandlerKind
from wakeful.protocol.discovery import is_bidi
from wakeful.registry import HandlerRecord, ServiceRecord
from wakeful.server.http import HttpError, Receive, Send, read_body, send_json

__all__ = ["DeploymentsApi"]

_SERVICE_TY = {"SERVICE": "Service", "VIRTUAL_OBJECT": "VirtualObject", "WORKFLOW": "Workflow"}
_HANDLER_TY = {
    HandlerKind.SERVICE: None,
    HandlerKind.EXCLUSIVE: "Exclusive",
    HandlerKind.SHARED: "Shared",
    HandlerKind.WORKFLOW: "Workflow",
    HandlerKind.WORKFLOW_SHARED: "Shared",
}


class _Register(msgspec.Struct, forbid_unknown_fields=False):
    uri: str
    additional_headers: dict[str, str] | None = None
    use_http_11: bool = False
    force: bool | None = None
    breaking: bool = False
    dry_run: bool = False
    metadata: dict[str, str] | None = None


def _field_error(field: str, reason: str) -> HttpError:
    return HttpError(400, f"The request field '{field}' is invalid. Reason: {reason}", "admin")


def _parse_register(body: bytes) -> _Register:
    try:
        request = msgspec.json.decode(body, type=_Register)
    except msgspec.ValidationError as e:
        if "arn" in body.decode(errors="replace"):
            raise HttpError(400, "Lambda deployments (arn) are not supported", "admin") from e
        raise HttpError(400, f"invalid registration request: {e}", "admin") from e
    except msgspec.DecodeError as e:
        raise HttpError(400, f"the request body is not valid JSON: {e}", "admin") from e
    parts = urlsplit(request.uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _field_error("uri", "must be an absolute http:// or https:// URI")
    if parts.scheme == "https" and not request.use_http_11:
        raise _field_error("uri", "HTTP/2 over TLS is not supported; use http:// (h2c)")
    if request.dry_run:
        raise HttpError(400, "dry_run registrations are not supported", "admin")
    return request


def _duration(ms: int | None) -> str | None:
    if ms is None:
        return None
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _handler_metadata(h: HandlerRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": h.name,
        "ty": _HANDLER_TY[h.kind],
        "input_description": h.input.content_type or "none",
        "output_description": h.output.content_type or "none",
        "public": h.public,
    }
    for key, value in (
        ("inactivity_timeout", _duration(h.inactivity_timeout_ms)),
        ("abort_timeout", _duration(h.abort_timeout_ms)),
        ("idempotency_retention", _duration(h.idempotency_retention_ms)),
        ("workflow_completion_retention", _duration(h.workflow_retention_ms)),
        ("documentation", h.documentation),
    ):
        if value is not None:
            out[key] = value
    if h.metadata:
        out["metadata"] = dict(h.metadata)
    return out


def service_metadata(service: ServiceRecord) -> dict[str, Any]:
    """A service as `GET /services/{name}` describes it (`deployment_id` is `in-process` for
    the application's own services)."""
    out: dict[str, Any] = {
        "name": service.name,
        "ty": _SERVICE_TY[service.ty],
        "handlers": [_handler_metadata(h) for h in service.handlers.values()],
        "deployment_id": service.deployment,
        "revision": 1,
        "public": service.public,
    }
    if service.documentation:
        out["documentation"] = service.documentation
    if service.metadata:
        out["metadata"] = dict(service.metadata)
    return out


class DeploymentsApi:
    """The deployment and service routes of the admin API."""

    def __init__(self, deployments: Deployments) -> None:
        self.deployments = deployments
        self.registry = deployments.registry

    def _services_of(self, deployment: Deployment) -> list[dict[str, Any]]:
        return [service_metadata(s) for s in self.registry if s.deployment == deployment.id]

    def _summary(self, deployment: Deployment, detailed: bool) -> dict[str, Any]:
        manifest = deployment.manifest
        out: dict[str, Any] = {
            "id": deployment.id,
            "uri": deployment.uri,
            "protocol_type": "BidiStream" if is_bidi(manifest) else "RequestResponse",
            "http_version": "HTTP/1.1" if deployment.use_http_11 else "HTTP/2.0",
            "created_at": _time(deployment.created_at_ms),
            "min_protocol_version": manifest.min_protocol_version,
            "max_protocol_version": manifest.max_protocol_version,
        }
        if deployment.additional_headers:
            out["additional_headers"] = deployment.additional_headers
        if detailed:
            out["services"] = self._services_of(deployment)
        else:
            out["services"] = [
                {"name": s.name, "revision": 1}
                for s in self.registry
                if s.deployment == deployment.id
            ]
        return out

    def list_services(self) -> dict[str, Any]:
        """`GET /services`: every service, in-process and remote."""
        return {"services": [service_metadata(s) for s in self.registry]}

    async def route(
        self,
        parts: list[str],
        method: str,
        query: dict[str, list[str]],
        receive: Receive,
        send: Send,
    ) -> bool:
        """Answer the request if it is one of these routes; False otherwise."""
        match parts:
            case ["deployments"] if method == "POST":
                await self._register(receive, send)
            case ["deployments"] if method == "GET":
                deployments = sorted(
                    self.deployments.deployments.values(), key=lambda d: d.created_at_ms
                )
                await send_json(
                    send, 200, {"deployments": [self._summary(d, False) for d in deployments]}
                )
            case ["deployments", deployment_id] if method == "GET":
                await send_json(send, 200, self._summary(self._get(deployment_id), True))
            case ["deployments", deployment_id] if method == "DELETE":
                await self._delete(deployment_id, query, send)
            case ["deployments", _] if method in ("PUT", "PATCH"):
                raise HttpError(
                    405,
                    "updating a deployment is not supported; register it again with force",
                    "admin",
                )
            case ["deployments", *_]:
                raise HttpError(405, "method not allowed", "admin")
            case ["services"] if method == "GET":
                await send_json(send, 200, self.list_services())
            case ["services", name] if method == "GET":
                service = self.registry.service(name)
                if service is None:
                    raise HttpError(404, f"The requested service '{name}' does not exist", "admin")
                await send_json(send, 200, service_metadata(service))
            case _:
                return False
        return True

    def _get(self, deployment_id: str) -> Deployment:
        deployment = self.deployments.deployments.get(deployment_id)
        if deployment is None:
            raise HttpError(
                404, f"The requested deployment '{deployment_id}' does not exist", "admin"
            )
        return deployment

    async def _register(self, receive: Receive, send: Send) -> None:
        request = _parse_register(await read_body(receive, 1024 * 1024))
        try:
            outcome, deployment = await self.deployments.register(
                request.uri,
                request.additional_headers or {},
                request.use_http_11,
                bool(request.force),
            )
        except RegistrationError as e:
            payload: dict[str, Any] = {"message": e.message}
            if e.restate_code is not None:
                payload["restate_code"] = e.restate_code
            await send_json(send, e.status, payload)
            return
        manifest = deployment.manifest
        body = {
            "id": deployment.id,
            "services": self._services_of(deployment),
            "min_protocol_version": manifest.min_protocol_version,
            "max_protocol_version": manifest.max_protocol_version,
        }
        status = 201 if outcome == "created" else 200
        location = [(b"location", f"deployments/{deployment.id}".encode())]
        await send_json(send, status, body, location)

    async def _delete(self, deployment_id: str, query: dict[str, list[str]], send: Send) -> None:
        self._get(deployment_id)
        if query.get("force", ["false"])[0].lower() != "true":
            raise HttpError(
                501,
                "graceful deployment deletion is not supported; delete with ?force=true",
                "admin",
            )
        await self.deployments.delete(deployment_id)
        await send_json(send, 202, {})
