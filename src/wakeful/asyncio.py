"""`wakeful.asyncio` (as restate-sdk's `restate.asyncio`): combinators over durable futures."""

from wakeful.sdk.combinators import as_completed, gather, select, wait_completed

__all__ = ["as_completed", "gather", "select", "wait_completed"]
