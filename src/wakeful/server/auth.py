"""Bearer tokens on the admin API and on raw-id completions (constant-time compared)."""

from __future__ import annotations

import hmac

from wakeful.server.http import HttpError, Scope

__all__ = ["check_bearer"]


def check_bearer(scope: Scope, token: str, what: str) -> None:
    """401 unless the request carries `Authorization: Bearer <token>`."""
    given = b""
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            given = value
    scheme, _, credential = given.partition(b" ")
    if scheme.lower() != b"bearer" or not hmac.compare_digest(
        credential.strip(), token.encode("utf-8")
    ):
        raise HttpError(401, f"{what} requires 'Authorization: Bearer <token>'")
