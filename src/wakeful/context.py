"""`wakeful.context`: the context types (as restate-sdk's `restate.context`)."""

from wakeful.sdk.context import *  # noqa: F403
from wakeful.sdk.context import __all__ as __all__
