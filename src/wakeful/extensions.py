"""`wakeful.extensions` (as restate-sdk's `restate.extensions`): hooks for integrations."""

from wakeful.sdk.current import contextvar, current_context

__all__ = ["contextvar", "current_context"]
