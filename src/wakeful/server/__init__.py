"""The HTTP side: ingress and admin ASGI apps, and the runtime that wires them to the engine."""
