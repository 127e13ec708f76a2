"""Completion link tokens: signed, expiring, tamper-evident, rotatable."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from wakeful.links import LinkError, LinkSigner, Outcome, load_or_create_secret

NOW = 1_800_000_000
AWAKEABLE = "sign_1AAAAAAAAAAcAAAAAAAAAAAAAAAAAAAE0gAAABE"


def signer(*keys: bytes) -> LinkSigner:
    """A signer over `keys` (the first signs)."""
    return LinkSigner(list(keys) or [b"k" * 32])


def test_a_signed_token_verifies_with_its_content() -> None:
    """sign → verify gives back the awakeable id, the expiry and the outcomes."""
    outcomes = [Outcome("Ship it", {"go": True}), Outcome("Stop", None, "stopped by ops")]
    token = signer().sign(AWAKEABLE, NOW + 60, outcomes)
    found = signer().verify(token, now=NOW)
    assert (found.wait_id, found.expires_at, found.outcomes) == (
        AWAKEABLE,
        NOW + 60,
        tuple(outcomes),
    )


def test_any_change_to_payload_or_signature_is_refused() -> None:
    """A token whose payload, signature or shape was altered is invalid."""
    token = signer().sign(AWAKEABLE, NOW + 60)
    head, tail = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=="))
    payload["e"] = NOW + 10**9  # push the expiry out
    forged_head = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    flipped_tail = tail[:-2] + ("A" if tail[-2] != "A" else "B") + tail[-1]
    for bad in (f"{forged_head}.{tail}", f"{head}.{flipped_tail}", head, "", "a.b.c", "!!.??"):
        with pytest.raises(LinkError) as info:
            signer().verify(bad, now=NOW)
        assert info.value.reason == "invalid"
    with pytest.raises(LinkError):
        signer(b"another secret").verify(token, now=NOW)


def test_a_token_expires_at_its_time() -> None:
    """Valid one second before the expiry; expired from the expiry on."""
    token = signer().sign(AWAKEABLE, NOW + 60)
    assert signer().verify(token, now=NOW + 59).wait_id == AWAKEABLE
    with pytest.raises(LinkError) as info:
        signer().verify(token, now=NOW + 60)
    assert info.value.reason == "expired"


def test_a_token_can_be_verified_again_single_use_is_the_completions_job() -> None:
    """Verifying twice gives the same answer: the token is stateless, so the second use is
    refused by the completion already stored (tests/e2e/test_humans_links.py)."""
    token = signer().sign(AWAKEABLE, NOW + 60)
    assert signer().verify(token, now=NOW) == signer().verify(token, now=NOW + 1)


def test_rotation_accepts_old_secrets_and_signs_with_the_new_one() -> None:
    """After rotating (new secret first, old one listed), old links still verify; new links
    are signed with the new secret only."""
    old, new = b"old" * 11, b"new" * 11
    old_token = signer(old).sign(AWAKEABLE, NOW + 60)
    rotated = signer(new, old)
    assert rotated.verify(old_token, now=NOW).wait_id == AWAKEABLE
    new_token = rotated.sign(AWAKEABLE, NOW + 60)
    assert signer(new).verify(new_token, now=NOW).wait_id == AWAKEABLE
    with pytest.raises(LinkError):
        signer(old).verify(new_token, now=NOW)
    with pytest.raises(LinkError):
        signer(new).verify(old_token, now=NOW)  # the old secret dropped: its links are dead


def test_form_nonce_belongs_to_one_token() -> None:
    """The page's form nonce checks for its own token only."""
    s = signer()
    first, second = s.sign(AWAKEABLE, NOW + 60), s.sign(AWAKEABLE, NOW + 61)
    assert s.check_nonce(first, s.form_nonce(first))
    assert not s.check_nonce(second, s.form_nonce(first))
    assert not s.check_nonce(first, "")


def test_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    """The data directory's secret is made on first use, private, and kept afterwards."""
    first = load_or_create_secret(tmp_path)
    assert len(first) == 64
    mode = stat.S_IMODE(os.stat(tmp_path / "link-secret").st_mode)
    assert mode == 0o600
    assert load_or_create_secret(tmp_path) == first
