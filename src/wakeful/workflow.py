"""`wakeful.workflow` (as restate-sdk's `restate.workflow`)."""

from wakeful.sdk.keyed import Workflow

__all__ = ["Workflow"]
