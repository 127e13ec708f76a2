"""`wakeful.service` (as restate-sdk's `restate.service`)."""

from wakeful.sdk.service import Service

__all__ = ["Service"]
