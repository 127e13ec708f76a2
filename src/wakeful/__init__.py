"""wakeful: durable execution for Python, built around waiting for the outside world.

The public surface matches restate-sdk's `restate` module, so `import wakeful as restate`
runs code written for it:

>>> import wakeful as restate
>>> approvals = restate.Service("Approvals")
>>> @approvals.handler()
... async def request(ctx: restate.Context, doc: str) -> str:
...     review_id, review = ctx.awakeable(type_hint=str)
...     await ctx.run("notify reviewer", lambda: send_email(doc, review_id))
...     return await review
>>> app = restate.app(services=[approvals])
"""

from typing import TYPE_CHECKING, Any

from wakeful import logging
from wakeful.errors import (
    RetryableError,
    SdkInternalBaseException,
    TerminalError,
    is_internal_exception,
)
from wakeful.links import completion_link
from wakeful.logging import RestateLoggingFilter, getLogger
from wakeful.sdk.app import App, app
from wakeful.sdk.combinators import as_completed, gather, select, wait_completed
from wakeful.sdk.context import (
    Context,
    DurablePromise,
    ObjectContext,
    ObjectSharedContext,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunOptions,
    ScopedContext,
    SendHandle,
    WorkflowContext,
    WorkflowSharedContext,
)
from wakeful.sdk.keyed import VirtualObject, Workflow
from wakeful.sdk.retry_policy import InvocationRetryPolicy
from wakeful.sdk.service import Service
from wakeful.sdk.unsupported import (
    ConnectError,
    JournalValueCodec,
    JournalValueCodecProvider,
    connect,
    with_connection,
)

if TYPE_CHECKING:
    from wakeful.client import HttpError, RestateClient, RestateClientSendHandle, create_client
    from wakeful.testing.harness import HarnessEnvironment, create_test_harness, test_harness

_CLIENT_NAMES = frozenset(
    {"HttpError", "RestateClient", "RestateClientSendHandle", "create_client"}
)
_HARNESS_NAMES = frozenset({"HarnessEnvironment", "create_test_harness", "test_harness"})


def __getattr__(name: str) -> Any:
    # The ingress client (and httpx) load on first use: a server process never needs them;
    # nor the test harness, which brings the whole server.
    if name in _CLIENT_NAMES:
        from wakeful import client

        return getattr(client, name)
    if name in _HARNESS_NAMES:
        from wakeful.testing import harness

        return getattr(harness, name)
    raise AttributeError(f"module 'wakeful' has no attribute {name!r}")


__all__ = [
    "App",
    "ConnectError",
    "Context",
    "DurablePromise",
    "HarnessEnvironment",
    "HttpError",
    "InvocationRetryPolicy",
    "JournalValueCodec",
    "JournalValueCodecProvider",
    "ObjectContext",
    "ObjectSharedContext",
    "RestateClient",
    "RestateClientSendHandle",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RestateLoggingFilter",
    "RetryableError",
    "RunOptions",
    "ScopedContext",
    "SdkInternalBaseException",
    "SendHandle",
    "Service",
    "TerminalError",
    "VirtualObject",
    "Workflow",
    "WorkflowContext",
    "WorkflowSharedContext",
    "app",
    "as_completed",
    "completion_link",
    "connect",
    "create_client",
    "create_test_harness",
    "gather",
    "getLogger",
    "is_internal_exception",
    "logging",
    "select",
    "test_harness",
    "wait_completed",
    "with_connection",
]
