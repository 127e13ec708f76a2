"""OpenTelemetry traces, with the `wakeful[otel]` extra, configured by the standard variables:
`OTEL_TRACES_EXPORTER` (`otlp`, `console`, or several comma-separated; unset or `none` = off),
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`
(default `wakeful`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`.

The spans of an invocation:

- `ingress_invoke {target}` (server): the request that created it; it continues the W3C
  `traceparent` the request carried, and its own context is stored with the invocation's
  input, so every attempt, however many suspensions and restarts later, joins the same trace;
- `invoke {target}` (one per attempt): `restate.invocation.id`, `restate.invocation.target`,
  `restate.invocation.attempt`; ends suspended, completed or failed; a resumed attempt links
  to the completion that woke it; handler code runs inside it, so its own spans nest there;
- `run {name}` for each `ctx.run` body that executes (not on replay);
- `create awakeable` with `restate.awakeable.id`;
- a call's callee attempts are children of the calling attempt (when both run in this process;
  the journal is not touched, so turning tracing on or off never changes a replay);
- `resolve awakeable` / `reject awakeable` (server): continues the resolver's `traceparent`
  and links to the attempt waiting for it.

With tracing off every hook is one global read: no import of OpenTelemetry, no allocation.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanContext, Tracer

__all__ = [
    "awakeable_created",
    "caller_context",
    "configure_from_env",
    "enabled",
    "forget_call",
    "note_call",
    "shutdown",
    "step_span",
    "tracer",
]

log = logging.getLogger(__name__)

_tracer: Tracer | None = None
_provider: Any = None  # the SDK's TracerProvider, flushed at shutdown


def enabled() -> bool:
    """True once `configure_from_env` found an exporter."""
    return _tracer is not None


def tracer() -> Tracer | None:
    """The tracer, or None when tracing is off."""
    return _tracer


def configure_from_env() -> bool:
    """Set tracing up from the OTEL_* variables; False (and nothing loaded) when it is off."""
    global _tracer, _provider
    if _tracer is not None:
        return True
    names = [
        n.strip().lower()
        for n in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if n.strip()
    ]
    off = os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true"
    if off or not names or names == ["none"]:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        log.warning(
            "OTEL_TRACES_EXPORTER=%s but OpenTelemetry is not installed: "
            "pip install 'wakeful[otel]'; tracing is off",
            ",".join(names),
        )
        return False
    attributes = {} if "OTEL_SERVICE_NAME" in os.environ else {SERVICE_NAME: "wakeful"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console)")
    trace.set_tracer_provider(provider)  # handler code's own spans go to the same exporters
    _provider = provider
    _tracer = provider.get_tracer("wakeful")
    log.info("tracing on: exporting spans to %s", ",".join(names))
    return True


def shutdown() -> None:
    """Export the spans still buffered (at server stop)."""
    if _provider is not None:
        _provider.force_flush()


def parent_context(headers: Mapping[str, str]) -> Any:
    """The OTel context of a W3C `traceparent` among `headers` (None if absent)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if "traceparent" not in headers:
        return None
    return TraceContextTextMapPropagator().extract(dict(headers))


def traceparent_of(span: Span) -> dict[str, str]:
    """`traceparent` (and `tracestate`) headers naming `span`."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, trace.set_span_in_context(span))
    return carrier


_MAX_CALLERS = 100_000
_callers: dict[str, Any] = {}  # callee invocation id -> the calling attempt's span context


def note_call(callee_id: str) -> None:
    """The current attempt calls `callee_id`: its attempts become children of this one."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        if len(_callers) >= _MAX_CALLERS:
            _callers.clear()  # callees that ran elsewhere or never started
        _callers.setdefault(callee_id, context)


def caller_context(invocation_id: str) -> Any:
    """The OTel context of the attempt that called `invocation_id` here (None if unknown)."""
    found = _callers.get(invocation_id)
    if found is None:
        return None
    from opentelemetry import trace

    return trace.set_span_in_context(trace.NonRecordingSpan(found))


def forget_call(invocation_id: str) -> None:
    """`invocation_id` finished: its caller's context is no longer needed."""
    _callers.pop(invocation_id, None)


@contextlib.contextmanager
def step_span(name: str) -> Iterator[None]:
    """A `run {name}` span around a `ctx.run` body (nothing when off)."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(f"run {name}", attributes={"restate.run.name": name}):
        yield


def awakeable_created(awakeable_id: str) -> None:
    """A short `create awakeable` span in the current attempt."""
    if _tracer is not None:
        _tracer.start_span(
            "create awakeable", attributes={"restate.awakeable.id": awakeable_id}
        ).end()


def link_to(context: SpanContext | None) -> list[Any]:
    """Links to `context` (none if it is None)."""
    from opentelemetry.trace import Link

    return [] if context is None else [Link(context)]
