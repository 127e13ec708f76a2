"""`wakeful.client_types` (as restate-sdk's `restate.client_types`): the ingress client's types."""

from wakeful.client import HttpError, RestateClient, RestateClientSendHandle, RestateScopedClient

__all__ = ["HttpError", "RestateClient", "RestateClientSendHandle", "RestateScopedClient"]
