"""The Prometheus metrics of one runtime, in a registry of its own (two runtimes in one process,
as in tests, do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """Counters, gauges and histograms; names follow Prometheus conventions (`_total`,
    `_seconds`), prefixed `wakeful_`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.invocations = Gauge(
            "wakeful_invocations",
            "Invocations stored, by status (as of the last scrape).",
            ["status"],
            registry=r,
        )
        self.pending = Gauge(
            "wakeful_pending",
            "Things waiting for the outside world or for time: awakeables (invocations "
            "suspended on one), durable promises not completed yet, timers.",
            ["kind"],
            registry=r,
        )
        self.finished = Counter(
            "wakeful_invocations_finished",
            "Invocations that completed, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.attempts = Counter(
            "wakeful_attempts",
            "Attempts that ended, by how: completed, suspended, failed (will be retried).",
            ["outcome"],
            registry=r,
        )
        self.attempts_started = Counter(
            "wakeful_attempts_started",
            "Attempts started: first ones, and resumed ones that replay a journal.",
            ["kind"],
            registry=r,
        )
        self.retries = Counter(
            "wakeful_retries", "Attempts that failed with a retryable error.", registry=r
        )
        self.live_attempts = Gauge(
            "wakeful_live_attempts", "Attempts running in this process right now.", registry=r
        )
        self.resume_latency = Histogram(
            "wakeful_resolve_to_resume_seconds",
            "From an awakeable completion reaching the ingress to the waiting handler running "
            "again (a new attempt, or delivery to the attempt still in memory).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "wakeful_commit_batch_events",
            "Events applied in one group commit.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.commit_time = Histogram(
            "wakeful_commit_seconds",
            "Time to write one group commit durably.",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "wakeful_event_loop_lag_seconds",
            "How late the event loop ran a timer callback (a blocked loop delays everything).",
            buckets=(*_COMMIT_BUCKETS, 2.5, 5),
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "wakeful_event_loop_lag_max_seconds",
            "The largest event-loop lag seen since the last scrape.",
            registry=r,
        )
