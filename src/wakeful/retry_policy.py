"""Invocation retry policy (like `restate.retry_policy`)."""

from wakeful.sdk.retry_policy import InvocationRetryPolicy

__all__ = ["InvocationRetryPolicy"]
