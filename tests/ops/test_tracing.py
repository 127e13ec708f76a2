"""OpenTelemetry traces of a real server exported over OTLP to a local collector: one awakeable
flow is one trace from the send's traceparent, through the suspension, to the resumed attempt;
the resolve's span links to the waiting attempt and the resumed attempt links back to it."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
from tests.e2e.apps_durability import wait_until
from tests.ops.apps_ops import APP, TRACES_ENV
from tests.ops.otlp_collector import SpanRecord, collector
from tests.support.server import WakefulProcess


def _traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def _awakeable(root: Path, label: str) -> str:
    path = root / "awakeables.log"

    def probe() -> str | None:
        lines = path.read_text().splitlines() if path.exists() else []
        return next((ln.split(" ")[1] for ln in lines if ln.split(" ")[0] == label), None)

    return wait_until(probe, 10, f"the awakeable of {label}")


def _one(spans: list[SpanRecord]) -> SpanRecord:
    assert len(spans) == 1, spans
    return spans[0]


def _traced(root: Path, collector_url: str) -> WakefulProcess:
    """A started server exporting its spans to the collector at `collector_url`."""
    return WakefulProcess(
        app=APP,
        data_dir=root / "data",
        inactivity_timeout="0",
        env={
            TRACES_ENV: str(root),
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector_url}/v1/traces",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "wakeful-test",
        },
    ).start()


def test_awakeable_flow_is_one_trace(tmp_path: Path) -> None:
    """send (traceparent T) → ingress_invoke → attempt 1 (run, create awakeable, suspended) …
    resolve (its own trace, linked to attempt 1) → attempt 2 (in T, linked to the resolve)."""
    with collector() as sink:
        server = _traced(tmp_path, sink.url)
        try:
            sent, trace_id, client_span = _traceparent()
            answer = httpx.post(
                f"{server.url}/Waiter/wait/send", json="t", headers={"traceparent": sent}
            )
            iid = answer.json()["invocationId"]
            awakeable = _awakeable(tmp_path, "t")
            wait_until(lambda: sink.named("invoke"), 10, "the first attempt's span")
            resolver, resolver_trace, resolver_span = _traceparent()
            resolved = httpx.post(
                f"{server.url}/restate/awakeables/{awakeable}/resolve",
                json="yes",
                headers={"traceparent": resolver},
            )
            assert resolved.status_code == 202
            result = httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=10)
            assert result.json() == "t:yes"
            wait_until(lambda: len(sink.named("invoke")) >= 2, 10, "the second attempt's span")
        finally:
            server.stop()

    ingress = _one(sink.named("ingress_invoke"))
    assert (ingress.trace_id, ingress.parent_id) == (trace_id, client_span)
    assert ingress.attributes["restate.invocation.id"] == iid
    assert ingress.service == "wakeful-test"

    attempts = sorted(
        sink.named("invoke Waiter/wait"), key=lambda s: s.attributes["restate.invocation.attempt"]
    )
    assert [a.attributes["restate.invocation.attempt"] for a in attempts] == [1, 2]
    first, second = attempts
    for attempt in attempts:
        assert attempt.trace_id == trace_id  # one trace across the suspension
        assert attempt.parent_id == ingress.span_id
        assert attempt.attributes["restate.invocation.id"] == iid
    assert first.attributes["restate.attempt.outcome"] == "suspended"
    assert "suspended" in first.events
    assert second.attributes["restate.attempt.outcome"] == "completed"
    assert second.attributes["restate.invocation.resumed"] is True

    step = _one(sink.named("run hand out"))
    assert (step.trace_id, step.parent_id) == (trace_id, first.span_id)
    created = _one(sink.named("create awakeable"))
    assert created.parent_id == first.span_id
    assert created.attributes["restate.awakeable.id"] == awakeable

    resolve = _one(sink.named("resolve awakeable"))
    assert (resolve.trace_id, resolve.parent_id) == (resolver_trace, resolver_span)
    assert resolve.links == [(trace_id, first.span_id)]  # back to the waiting attempt
    assert second.links == [(resolver_trace, resolve.span_id)]  # the resume names its cause


def test_calls_continue_the_callers_trace(tmp_path: Path) -> None:
    """A durable call's callee attempts are children of the calling attempt, in its trace; a
    handler sees its attempt's trace context in `attempt_headers`."""
    with collector() as sink:
        server = _traced(tmp_path, sink.url)
        try:
            sent, trace_id, _ = _traceparent()
            answer = httpx.post(
                f"{server.url}/Caller/add_twice", json="k", headers={"traceparent": sent}
            )
            assert answer.json() == 2
            attempt_header = httpx.post(f"{server.url}/Caller/attempt_traceparent").json()
            wait_until(lambda: len(sink.named("invoke Counter/")) >= 2, 10, "callee spans")
            wait_until(lambda: sink.named("invoke Caller/attempt"), 10, "the header's span")
        finally:
            server.stop()
    callers = sink.named("invoke Caller/add_twice")
    assert callers
    assert {c.trace_id for c in callers} == {trace_id}
    callees = sink.named("invoke Counter/")
    assert {c.trace_id for c in callees} == {trace_id}
    assert {c.parent_id for c in callees} <= {c.span_id for c in callers}
    # ctx.request().attempt_headers names the attempt's own span, as in restate-sdk.
    header_span = _one(sink.named("invoke Caller/attempt_traceparent"))
    assert attempt_header.startswith(f"00-{header_span.trace_id}-{header_span.span_id}-")


def test_resolve_after_a_restart_links_to_the_stored_trace(tmp_path: Path) -> None:
    """After a restart the waiting attempt's span is gone from memory: the resolve links to the
    trace stored with the invocation's input, and the resumed attempt still joins that trace."""
    with collector() as sink:
        server = _traced(tmp_path, sink.url)
        try:
            sent, trace_id, _ = _traceparent()
            answer = httpx.post(
                f"{server.url}/Waiter/wait/send", json="r", headers={"traceparent": sent}
            )
            iid = answer.json()["invocationId"]
            awakeable = _awakeable(tmp_path, "r")
            wait_until(lambda: sink.named("invoke"), 10, "the first attempt's span")
            server.stop()
            server.start()
            resolved = httpx.post(
                f"{server.url}/restate/awakeables/{awakeable}/resolve", json="late"
            )
            assert resolved.status_code == 202
            result = httpx.get(f"{server.url}/restate/invocation/{iid}/attach", timeout=10)
            assert result.json() == "r:late"
            wait_until(lambda: len(sink.named("invoke")) >= 2, 10, "the resumed attempt's span")
        finally:
            server.stop()
    ingress = _one(sink.named("ingress_invoke"))
    resolve = _one(sink.named("resolve awakeable"))
    assert resolve.links == [(trace_id, ingress.span_id)]
    resumed = [s for s in sink.named("invoke") if s.attributes["restate.invocation.attempt"] == 2]
    assert _one(resumed).trace_id == trace_id
