"""Signed, expiring completion links: a URL a person opens to complete one awakeable.

>>> approval_id, approval = ctx.awakeable(type_hint=bool, description="Approve expense 42")
>>> url = await ctx.run("link", lambda: wakeful.completion_link(approval_id))
>>> await ctx.run("email", lambda: send_email(manager, url))

The token in the URL is `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))`; the
payload names the awakeable, the choices the page offers (`outcomes`) and the expiry. The
server verifies it with every secret it accepts (the first one signs: list an old secret after
a new one to rotate without breaking links already sent). Opening a link never completes
anything; submitting its page does, once: the completion itself is the record of use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "LinkError",
    "LinkSigner",
    "LinkToken",
    "Outcome",
    "completion_link",
    "configure_links",
    "load_or_create_secret",
]

SECRET_FILE = "link-secret"


class LinkError(Exception):
    """A link token that cannot be used; `reason` is "invalid" or "expired"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    """One button of a link's page: resolve with a JSON `value`, or reject with `message`."""

    label: str
    value: Any = None
    reject: str | None = None

    def to_json(self) -> list[Any]:
        """Compact form inside a token."""
        return [self.label, self.value] if self.reject is None else [self.label, None, self.reject]

    @classmethod
    def from_json(cls, data: Any) -> Outcome:
        """The inverse of `to_json` (LinkError for anything else)."""
        if not isinstance(data, list) or not 2 <= len(data) <= 3 or not isinstance(data[0], str):
            raise LinkError("invalid", "bad outcome in token")
        reject = data[2] if len(data) == 3 else None
        if reject is not None and not isinstance(reject, str):
            raise LinkError("invalid", "bad outcome in token")
        return cls(data[0], data[1], reject)


@dataclass(frozen=True, slots=True)
class LinkToken:
    """What a verified token says."""

    wait_id: str  # the awakeable id
    expires_at: int  # epoch seconds
    outcomes: tuple[Outcome, ...] | None  # None: the page derives choices from the schema


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Signs tokens with the first secret; verifies with any of them (rotation)."""

    def __init__(self, secrets_: Sequence[bytes]) -> None:
        if not secrets_:
            raise ValueError("at least one link secret is needed")
        self.secrets = list(secrets_)

    def _mac(self, secret: bytes, payload: bytes) -> bytes:
        return hmac.new(secret, payload, hashlib.sha256).digest()

    def sign(
        self,
        wait_id: str,
        expires_at: int,
        outcomes: Sequence[Outcome] | None = None,
    ) -> str:
        """A token for `wait_id` valid until `expires_at` (epoch seconds)."""
        body: dict[str, Any] = {"w": wait_id, "e": expires_at}
        if outcomes is not None:
            body["o"] = [o.to_json() for o in outcomes]
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(self.secrets[0], payload))}"

    def verify(self, token: str, now: float | None = None) -> LinkToken:
        """The token's content; LinkError("invalid") if tampered, ("expired") if too old."""
        head, dot, tail = token.partition(".")
        try:
            payload, mac = _unb64(head), _unb64(tail)
        except (ValueError, TypeError) as e:
            raise LinkError("invalid", "this link is not valid") from e
        if not dot or not any(
            hmac.compare_digest(mac, self._mac(secret, payload)) for secret in self.secrets
        ):
            raise LinkError("invalid", "this link is not valid")
        try:
            body = json.loads(payload)
            wait_id, expires_at = body["w"], body["e"]
            raw_outcomes = body.get("o")
        except (ValueError, KeyError, TypeError) as e:
            raise LinkError("invalid", "this link is not valid") from e
        if not isinstance(wait_id, str) or not isinstance(expires_at, int):
            raise LinkError("invalid", "this link is not valid")
        outcomes = None
        if raw_outcomes is not None:
            if not isinstance(raw_outcomes, list):
                raise LinkError("invalid", "this link is not valid")
            outcomes = tuple(Outcome.from_json(o) for o in raw_outcomes)
        if (time.time() if now is None else now) >= expires_at:
            raise LinkError("expired", "this link has expired")
        return LinkToken(wait_id, expires_at, outcomes)

    def form_nonce(self, token: str) -> str:
        """A value only the link's own page carries: a form POSTed without it is refused."""
        return _b64(self._mac(self.secrets[0], b"form:" + token.encode()))[:32]

    def check_nonce(self, token: str, nonce: str) -> bool:
        """True if `nonce` is the form nonce of `token` under any accepted secret."""
        return any(
            hmac.compare_digest(
                nonce.encode(),
                _b64(self._mac(secret, b"form:" + token.encode()))[:32].encode(),
            )
            for secret in self.secrets
        )


def load_or_create_secret(data_dir: Path) -> bytes:
    """The data directory's link secret, created (mode 0600) on first use."""
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    try:
        os.write(fd, secrets.token_hex(32).encode())
    finally:
        os.close(fd)
    return path.read_text().strip().encode()


@dataclass(slots=True)
class _Links:
    signer: LinkSigner | None = None
    base_url: str = ""


_links = _Links()


def configure_links(signer: LinkSigner, base_url: str) -> None:
    """Set how `completion_link` signs and where its URLs point (the server does this)."""
    _links.signer = signer
    _links.base_url = base_url.rstrip("/")


def link_url(base_url: str, token: str) -> str:
    """The page URL of a token on the public ingress."""
    return f"{base_url.rstrip('/')}/restate/links/{token}"


def completion_link(
    awakeable_id: str,
    *,
    expires: timedelta = timedelta(days=3),
    outcomes: Mapping[str, Any] | None = None,
    reject: Mapping[str, str] | None = None,
) -> str:
    """A signed URL on the public ingress whose page completes `awakeable_id` once.

    `outcomes` maps button labels to payloads, `reject` button labels to rejection messages;
    with neither, the page offers Approve/Reject or a form, from the awaited type's schema.
    Call it in a handler's `ctx.run` (the link then stays the same on replay).
    """
    signer = _links.signer
    if signer is None:
        raise RuntimeError("completion links need a running wakeful server (wakeful serve)")
    choices: list[Outcome] | None = None
    if outcomes or reject:
        choices = [Outcome(label, value) for label, value in (outcomes or {}).items()]
        choices += [Outcome(label, None, message) for label, message in (reject or {}).items()]
    expires_at = int(time.time() + expires.total_seconds())
    return link_url(_links.base_url, signer.sign(awakeable_id, expires_at, choices))
