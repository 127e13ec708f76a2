"""`wakeful.context_managers` (as restate-sdk's `restate.context_managers`)."""

from wakeful.sdk.current import contextvar

__all__ = ["contextvar"]
