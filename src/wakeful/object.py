"""`wakeful.object` (as restate-sdk's `restate.object`)."""

from wakeful.sdk.keyed import VirtualObject

__all__ = ["VirtualObject"]
