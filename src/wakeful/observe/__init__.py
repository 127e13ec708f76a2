"""What the engine tells operators: lifecycle logs, Prometheus metrics, OpenTelemetry traces.

Import the modules themselves (`wakeful.observe.observer`, `wakeful.observe.tracing`): the SDK
imports the tracing hooks and must not load the metrics with them.
"""
