"""What the engine tells operators: lifecycle logs, Prometheus metrics, event-loop lag."""

from wakeful.observe.observer import Observer

__all__ = ["Observer"]
