"""`GET /metrics`: the runtime's metrics in Prometheus's text format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wakeful.engine.model import Status
from wakeful.observe.observer import Observer

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode("ascii")


async def render_metrics(observer: Observer, store: object, live_attempts: int) -> bytes:
    """Refresh the gauges read from `store`, then render every metric."""
    metrics = observer.metrics
    counts = getattr(store, "counts", None)  # a store without it omits these gauges
    if counts is not None:
        statuses, pending = await counts()
        for status in Status:
            metrics.invocations.labels(status.label).set(statuses.get(int(status), 0))
        for kind, count in pending.items():
            metrics.pending.labels(kind).set(count)
    metrics.live_attempts.set(live_attempts)
    observer.scraped()
    return generate_latest(metrics.registry)
