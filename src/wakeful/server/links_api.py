"""Issuing completion links through the admin API (`POST /awakeables/{id}/links`), for
handlers in other processes or languages.

Body (all optional): `{"expires_in": "3d", "outcomes": {"Ship": {...}}, "reject": {"Stop":
"reason"}}`; answer: `{"url": …, "expires_at": …}`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from wakeful.links import LinkSigner, Outcome, link_url
from wakeful.server.completions import find_wait, rfc3339
from wakeful.server.durations import parse_duration_ms
from wakeful.server.http import HttpError
from wakeful.server.runtime import Runtime

__all__ = ["DEFAULT_EXPIRY", "LinkIssuer"]

DEFAULT_EXPIRY = timedelta(days=3)


class LinkIssuer:
    """Signs links for the awakeables of this server, with URLs on its public ingress."""

    def __init__(self, runtime: Runtime, signer: LinkSigner, base_url: str) -> None:
        self.runtime = runtime
        self.signer = signer
        self.base_url = base_url

    async def issue(self, awakeable_id: str, body: bytes) -> dict[str, Any]:
        """A link for one awakeable or awaited promise (`Workflow/key/name`); 404 if nothing
        waits on it."""
        try:
            options = json.loads(body) if body.strip() else {}
        except ValueError as e:
            raise HttpError(400, f"the body is not JSON: {e}") from e
        if not isinstance(options, dict):
            raise HttpError(400, "the body must be a JSON object")
        row = await find_wait(self.runtime, awakeable_id)
        if row is None:
            raise HttpError(404, f"nothing awaits '{awakeable_id}'")
        expires_ms = int(DEFAULT_EXPIRY.total_seconds() * 1000)
        if "expires_in" in options:
            try:
                expires_ms = parse_duration_ms(str(options["expires_in"]))
            except ValueError as e:
                raise HttpError(400, f"bad expires_in {options['expires_in']!r}: {e}") from e
        outcomes = [Outcome(str(k), v) for k, v in _mapping(options, "outcomes").items()]
        outcomes += [Outcome(str(k), None, str(v)) for k, v in _mapping(options, "reject").items()]
        expires_at = (self.runtime.clock.now_ms() + expires_ms) // 1000
        token = self.signer.sign(row.wait_id, expires_at, outcomes or None)
        return {"url": link_url(self.base_url, token), "expires_at": rfc3339(expires_at * 1000)}


def _mapping(options: dict[str, Any], name: str) -> dict[str, Any]:
    found = options.get(name, {})
    if not isinstance(found, dict):
        raise HttpError(400, f"{name} must be an object mapping button labels to payloads")
    return found
