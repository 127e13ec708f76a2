"""`wakeful.endpoint` (as restate-sdk's `restate.endpoint`)."""

from wakeful.sdk.app import Endpoint, app

__all__ = ["Endpoint", "app"]
