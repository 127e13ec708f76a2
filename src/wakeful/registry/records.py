"""What the server knows about a service and its handlers, whoever serves them.

Records are built from a discovery manifest (`registry.manifest`): handler options fall back
to the service's, durations are milliseconds, None means "the server default".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from wakeful.engine.model import HandlerKind

__all__ = [
    "IN_PROCESS",
    "HandlerRecord",
    "InputRules",
    "OutputRules",
    "RetryOverrides",
    "ServiceRecord",
]

IN_PROCESS = "in-process"
"""The deployment of the services of the application this server runs itself."""

ServiceType = Literal["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]


@dataclass(frozen=True, slots=True)
class InputRules:
    """Which request bodies a handler accepts, checked the way Restate's ingress does.

    Rules are tried in order and the request passes if one matches: "no body and no
    content-type" unless the input is `required`; then the `content_type` (with wildcards),
    which must also come with a non-empty body when the input has a JSON schema.
    """

    required: bool = False
    content_type: str | None = "*/*"
    json_schema: Any = None

    def check(self, content_type: str | None, body: bytes) -> str | None:
        """None if the request is acceptable, else Restate's reason why it is not."""
        reason = "Bad configuration of the input validation rules"
        if not self.required:
            if not body and content_type is None:
                return None
            shown = "None" if content_type is None else f'Some("{content_type}")'
            reason = (
                "Expected body and content-type to be empty, but wasn't with content-type "
                f"'{shown}'"
            )
        if self.content_type is not None:
            if content_type is None:
                return "Empty content-type"
            if not _matches(content_type, self.content_type):
                return f"Content-type '{content_type}' does not match '{self.content_type}'"
            if self.json_schema is not None and not body:
                return "Empty body not allowed"  # JSON has no empty value
            return None
        return reason


def _matches(content_type: str, accept: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    kind, slash, sub = mime.partition("/")
    if not slash:
        return False
    want_kind, _, want_sub = accept.strip().lower().partition("/")
    if want_kind == "*":
        return True
    return kind == want_kind and want_sub in ("*", sub)


@dataclass(frozen=True, slots=True)
class OutputRules:
    """The content type of a handler's answers (none when the answer is empty, unless asked)."""

    content_type: str | None = "application/json"
    set_content_type_if_empty: bool = False
    json_schema: Any = None


@dataclass(frozen=True, slots=True)
class RetryOverrides:
    """A handler's invocation retry policy; None fields take the server default."""

    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: Literal["pause", "kill"] | None = None


@dataclass(frozen=True, slots=True)
class HandlerRecord:
    """One handler: how to call it, what it accepts and answers, and its options."""

    service: str
    name: str
    kind: HandlerKind
    deployment: str
    input: InputRules = field(default_factory=InputRules)
    output: OutputRules = field(default_factory=OutputRules)
    public: bool = True
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_retention_ms: int | None = None
    enable_lazy_state: bool | None = None
    retry: RetryOverrides = field(default_factory=RetryOverrides)
    documentation: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`Service/handler`, as used in logs and errors."""
        return f"{self.service}/{self.name}"


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A service, the deployment that serves it and its handlers by name."""

    name: str
    ty: ServiceType
    deployment: str
    handlers: Mapping[str, HandlerRecord]
    public: bool = True
    documentation: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def keyed(self) -> bool:
        """True for virtual objects and workflows (their paths carry a key)."""
        return self.ty != "SERVICE"
