"""The service registry: manifests decoded and validated, options resolved, kinds mapped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import wakeful as restate
from wakeful.engine.model import HandlerKind, Target
from wakeful.registry import (
    IN_PROCESS,
    InputRules,
    ManifestError,
    Registry,
    decode_manifest,
)
from wakeful.sdk.discovery import manifest_of


def _manifest(**service: Any) -> dict[str, Any]:
    body = {"name": "Orders", "ty": "SERVICE", "handlers": [{"name": "place"}], **service}
    return {"minProtocolVersion": 5, "maxProtocolVersion": 6, "services": [body]}


def test_handler_options_fall_back_to_the_service() -> None:
    """A handler without its own option takes the service's; its own one wins."""
    registry = Registry()
    manifest = _manifest(
        inactivityTimeout=5000,
        retryPolicyMaxAttempts=3,
        handlers=[{"name": "a"}, {"name": "b", "inactivityTimeout": 10, "ingressPrivate": True}],
    )
    registry.register(decode_manifest(manifest), "dp_1")
    a, b = registry.handler("Orders", "a"), registry.handler("Orders", "b")
    assert a is not None
    assert b is not None
    assert (a.inactivity_timeout_ms, b.inactivity_timeout_ms) == (5000, 10)
    assert a.retry.max_attempts == 3
    assert b.retry.max_attempts == 3
    assert a.public
    assert not b.public
    assert a.deployment == "dp_1"


@pytest.mark.parametrize(
    ("service_ty", "handler_ty", "kind"),
    [
        ("SERVICE", None, HandlerKind.SERVICE),
        ("VIRTUAL_OBJECT", None, HandlerKind.EXCLUSIVE),
        ("VIRTUAL_OBJECT", "SHARED", HandlerKind.SHARED),
        ("WORKFLOW", "WORKFLOW", HandlerKind.WORKFLOW),
        ("WORKFLOW", "SHARED", HandlerKind.WORKFLOW_SHARED),
    ],
)
def test_manifest_types_map_to_engine_kinds(
    service_ty: str, handler_ty: str | None, kind: HandlerKind
) -> None:
    """Service and handler types of the manifest decide the engine's handler kind."""
    handler: dict[str, Any] = (
        {"name": "h"} if handler_ty is None else {"name": "h", "ty": handler_ty}
    )
    registry = Registry()
    registry.register(decode_manifest(_manifest(ty=service_ty, handlers=[handler])), "dp_1")
    assert registry.handler_kind(Target("Orders", "h", "k")) == kind
    assert registry.handler_kind(Target("Orders", "nope")) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"abortTimeout": -1}, "abortTimeout"),
        ({"ty": "ACTOR"}, "ty"),
        ({"surprise": 1}, "surprise"),
        ({"handlers": [{"name": "h", "ty": "WORKFLOW"}]}, "not allowed in a SERVICE"),
        ({"handlers": [{"name": "h"}, {"name": "h"}]}, "defined twice"),
    ],
)
def test_bad_manifests_are_refused(change: dict[str, Any], reason: str) -> None:
    """A manifest off the schema (or one wakeful cannot serve) registers nothing."""
    registry = Registry()
    with pytest.raises(ManifestError, match=reason):
        registry.register(decode_manifest(_manifest(**change)), "dp_1")
    assert len(registry) == 0


def test_remove_deployment_forgets_its_services() -> None:
    """Removing a deployment removes the services it served, and only those."""
    registry = Registry()
    registry.register(decode_manifest(_manifest()), "dp_1")
    registry.register(decode_manifest(_manifest(name="Other")), "dp_2")
    registry.remove_deployment("dp_1")
    assert [s.name for s in registry] == ["Other"]


@pytest.mark.parametrize(
    ("rules", "content_type", "body", "reason"),
    [
        (InputRules(False, "application/json", True), None, b"", None),
        (InputRules(False, "application/json", True), "application/json", b"", "Empty body"),
        (InputRules(False, "application/json", True), "application/json", b"1", None),
        (InputRules(False, "application/json", True), "text/plain", b"1", "does not match"),
        (InputRules(False, "application/json", True), None, b"1", "Empty content-type"),
        (InputRules(False, "text/*", None), "text/csv; charset=utf-8", b"a", None),
        (InputRules(False, None, None), "application/json", b"1", "to be empty"),
        (InputRules(False, None, None), None, b"", None),
        (InputRules(True, None, None), None, b"", "Bad configuration"),
    ],
)
def test_input_rules_follow_restate(
    rules: InputRules, content_type: str | None, body: bytes, reason: str | None
) -> None:
    """Input rules accept and reject bodies as Restate's ingress does, with its reasons."""
    found = rules.check(content_type, body)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found


def test_in_process_app_registers_through_its_manifest() -> None:
    """The in-process app's manifest carries its kinds, options and input rules."""
    svc = restate.Service("Greeter")
    obj = restate.VirtualObject("Counter")

    @svc.handler(inactivity_timeout=timedelta(seconds=3), ingress_private=True)
    async def greet(ctx: restate.Context, name: str) -> str:
        return name

    @obj.handler(kind="shared")
    async def get(ctx: restate.ObjectSharedContext) -> int:
        return 0

    registry = Registry()
    registry.register(decode_manifest(manifest_of(restate.app([svc, obj]))), IN_PROCESS)
    greet_record = registry.handler("Greeter", "greet")
    get_record = registry.handler("Counter", "get")
    assert greet_record is not None
    assert get_record is not None
    assert greet_record.inactivity_timeout_ms == 3000
    assert not greet_record.public
    assert greet_record.input.json_schema == {"type": "string"}
    assert get_record.kind == HandlerKind.SHARED
    assert get_record.input.check("application/json", b"1") is not None  # takes no input
