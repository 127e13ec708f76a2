"""`GET /metrics`: the runtime's metrics in Prometheus's text format."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wakeful.engine.model import Status

if TYPE_CHECKING:
    from wakeful.server.runtime import Runtime

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode("ascii")


async def render_metrics(runtime: Runtime) -> bytes:
    """Refresh the gauges read from storage, then render every metric."""
    observer = runtime.observer
    metrics = observer.metrics
    counts = getattr(runtime.store, "counts", None)  # a store without it omits these gauges
    if counts is not None:
        statuses, pending = await counts()
        for status in Status:
            metrics.invocations.labels(status.label).set(statuses.get(int(status), 0))
        for kind, count in pending.items():
            metrics.pending.labels(kind).set(count)
    metrics.live_attempts.set(runtime.invoker.running)
    observer.scraped()
    return generate_latest(metrics.registry)
