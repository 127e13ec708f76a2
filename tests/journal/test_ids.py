"""Invocation and awakeable ids: Restate-compatible formats, parsing errors, determinism."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wakeful.errors import InvalidIdError
from wakeful.journal import ids
from wakeful.journal.ids import (
    CANCEL_SIGNAL,
    FIRST_AWAKEABLE_SIGNAL,
    AwakeableId,
    AwakeableRef,
    InvocationId,
    parse_awakeable_id,
    partition_key_for,
)

U64 = st.integers(min_value=0, max_value=2**64 - 1)
U128 = st.integers(min_value=0, max_value=2**128 - 1)
U32 = st.integers(min_value=0, max_value=2**32 - 1)
invocation_ids = st.builds(InvocationId, U64, U128)

# Ids printed by Restate itself (restate-doctor's example, the ingress OpenAPI example): their
# uuids decode to ULIDs with plausible timestamps, which pins base62 alphabet and byte order.
DOCTOR_ID = "inv_1fBuS9KMPNrt0zQBGdilypucn1EeT7AO5j"
OPENAPI_ID = "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz"
# The awakeable example of sdk-shared-core's docs/service-invocation-protocol.md.
PROTOCOL_DOC_PROM_ID = "prom_1NMyOAvDK2CcBjUH4Rmb7eGBp0DNNDnmsAAAAAQ"


def reason(exc: pytest.ExceptionInfo[InvalidIdError]) -> str:
    return str(exc.value)


def ulid_ms(uuid: int) -> int:
    return uuid >> 80


# --- InvocationId: binary and textual forms -------------------------------------------------


@given(invocation_ids)
def test_invocation_id_text_round_trip(inv: InvocationId) -> None:
    """Any (u64, u128) survives str -> parse, always as 38 characters starting `inv_1`."""
    text = str(inv)
    assert len(text) == 38
    assert text.startswith("inv_1")
    assert InvocationId.parse(text) == inv


@given(invocation_ids)
def test_invocation_id_bytes_round_trip(inv: InvocationId) -> None:
    """to_bytes is pk u64 BE ‖ uuid u128 BE (24 bytes) and from_bytes inverts it."""
    raw = inv.to_bytes()
    assert raw == inv.partition_key.to_bytes(8, "big") + inv.uuid.to_bytes(16, "big")
    assert InvocationId.from_bytes(raw) == inv


def test_from_bytes_rejects_other_lengths() -> None:
    """A binary id that is not exactly 24 bytes is `bad length`."""
    for raw in (b"", b"\x00" * 23, b"\x00" * 25):
        with pytest.raises(InvalidIdError) as e:
            InvocationId.from_bytes(raw)
        assert reason(e) == "bad length"


def test_restate_doctor_vector_decodes() -> None:
    """restate-doctor's example id decodes to a ULID of 2026-01-13 and re-encodes identically."""
    inv = InvocationId.parse(DOCTOR_ID)
    assert inv == InvocationId(0x539A3B9A5842C2B5, 0x19BB8D08D1F5CE48C857E07F175FF12)
    assert ulid_ms(inv.uuid) == 1768332234015  # 2026-01-13T19:23:54.015Z
    assert str(inv) == DOCTOR_ID


def test_openapi_example_vector_decodes() -> None:
    """The ingress OpenAPI example id decodes to a ULID of 2024-03-18 and re-encodes identically."""
    inv = InvocationId.parse(OPENAPI_ID)
    assert inv == InvocationId(0x493C42ED1C3CF1BC, 0x18E5257B998007DB7F4F3F47E809584)
    assert ulid_ms(inv.uuid) == 1710778464664  # 2024-03-18T16:14:24.664Z
    assert str(inv) == OPENAPI_ID


@pytest.mark.parametrize(
    ("inv", "text"),
    [
        (InvocationId(0, 0), "inv_1" + "0" * 33),
        (InvocationId(1, 2), "inv_105k1wlNFHb203LZ30BX8sU4IDCkIZztT2"),
        (InvocationId(2**64 - 1, 2**128 - 1), "inv_1lYGhA16ahyf7N42dgm5tFLK9N8MT7fHC7"),
        (
            InvocationId(1311768467463790320, 22774453838368691933757882222884355840),
            "inv_1kG925NcgRk601SXCVKzIDLyTfxxspexG1",
        ),
    ],
)
def test_invocation_id_base62_crate_vectors(inv: InvocationId, text: str) -> None:
    """Fixed-width, byte-swapped base62 (0-9a-zA-Z) matches the `base62` crate Restate uses."""
    assert str(inv) == text
    assert InvocationId.parse(text) == inv


def test_invocation_id_ordering_is_partition_key_first() -> None:
    """Ids order by partition key, then uuid (Restate's derived Ord), and hash as dict keys."""
    a, b, c = InvocationId(1, 9), InvocationId(2, 0), InvocationId(2, 1)
    assert sorted([c, b, a]) == [a, b, c]
    assert {a: 1}[InvocationId(1, 9)] == 1


# --- InvocationId.parse errors: Restate's IdDecodeError messages ----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The cases of Restate's own `bad_invocation_id_str` test (identifiers.rs).
        ("", "bad length"),
        (
            "mxvgUOrwIb8cYrGPHkAAKSKY3O!6IEy_g",
            "unrecognized resource type: mxvgUOrwIb8cYrGPHkAAKSKY3O!6IEy",
        ),
        ("mxvgUOrwIb8", "bad format"),
        ("inv_ub23411ba", "unrecognized codec version"),
        ("inv_1b234d1ba", "bad length"),
    ],
)
def test_parse_matches_restate_test_cases(text: str, expected: str) -> None:
    """Restate's own bad-id examples give the same reasons."""
    with pytest.raises(InvalidIdError) as e:
        InvocationId.parse(text)
    assert reason(e) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inv", "bad format"),
        ("foo_1abc", "unrecognized resource type: foo"),
        ("_1abc", "unrecognized resource type: "),
        ("inv_", "bad length"),
        ("inv_2" + "0" * 33, "unrecognized codec version"),
        ("inv_é" + "0" * 33, "bad length"),  # Restate reads the version as one byte
        ("sign_1" + "A" * 38, "id doesn't match the expected type"),
        ("dp_11nGQpCRmau6ypL82KH2TnP", "id doesn't match the expected type"),
        ("inv_1" + "!" * 33, "base62 decode error"),
        ("inv_1" + "z" * 11 + "0" * 22, "base62 decode error"),  # partition key > u64
        ("inv_1" + "0" * 11 + "Z" * 22, "base62 decode error"),  # uuid > u128
        ("inv_1" + "!" * 11, "base62 decode error"),  # the key is decoded before the length
        ("inv_1" + "0" * 32, "bad length"),
        ("inv_1" + "0" * 34, "bad length"),
        (DOCTOR_ID + " ", "bad length"),
        ("inv_1" + "0" * 10 + "é" + "0" * 22, "bad length"),  # byte 11 splits a character
        ("inv_1" + "é" + "0" * 31, "base62 decode error"),
    ],
)
def test_parse_error_reasons(text: str, expected: str) -> None:
    """Each malformed id fails with exactly Restate's reason, in Restate's precedence."""
    with pytest.raises(InvalidIdError) as e:
        InvocationId.parse(text)
    assert reason(e) == expected


@given(st.text(max_size=45))
def test_parse_only_raises_invalid_id_error(text: str) -> None:
    """Arbitrary text either parses or raises InvalidIdError (never another exception)."""
    try:
        inv = InvocationId.parse(text)
    except InvalidIdError:
        return
    assert str(inv) == text


@given(invocation_ids, st.integers(0, 37), st.characters(codec="utf-8"))
def test_fast_and_exact_parse_paths_agree(inv: InvocationId, pos: int, ch: str) -> None:
    """One changed character gives the same outcome on the fast path and the exact path."""
    text = str(inv)
    mutated = text[:pos] + ch + text[pos + 1 :]

    def outcome(parse: Callable[[str], InvocationId]) -> InvocationId | str:
        try:
            return parse(mutated)
        except InvalidIdError as e:
            return str(e)

    assert outcome(InvocationId.parse) == outcome(ids._parse_invocation_id_exact)


# --- deterministic ids ------------------------------------------------------------------------


def test_deterministic_uuid_is_restate_layout() -> None:
    """uuid = first 16 bytes (BE) of sha256(kind ‖ ',' part ‖ ',' part …)."""
    inv = InvocationId.deterministic("ik", ["svc", b"key", "h", "idem"], 7)
    digest = hashlib.sha256(b"ik,svc,key,h,idem").digest()
    assert inv == InvocationId(7, int.from_bytes(digest[:16], "big"))


def test_idempotency_id_layout_with_and_without_key() -> None:
    """for_idempotency_key hashes ("ik", service, [key], handler, idempotency key)."""
    unkeyed = InvocationId.for_idempotency_key("Greeter", "greet", None, "abc")
    digest = hashlib.sha256(b"ik,Greeter,greet,abc").digest()
    assert unkeyed.uuid == int.from_bytes(digest[:16], "big")
    assert unkeyed.partition_key == partition_key_for("abc")

    keyed = InvocationId.for_idempotency_key("Cart", "add", "alice", "abc")
    digest = hashlib.sha256(b"ik,Cart,alice,add,abc").digest()
    assert keyed.uuid == int.from_bytes(digest[:16], "big")
    assert keyed.partition_key == partition_key_for("alice")


def test_workflow_id_layout() -> None:
    """for_workflow hashes ("wf", workflow name, key) and takes the key's partition key."""
    inv = InvocationId.for_workflow("Signup", "alice")
    digest = hashlib.sha256(b"wf,Signup,alice").digest()
    assert inv == InvocationId(partition_key_for("alice"), int.from_bytes(digest[:16], "big"))


def test_idempotency_ids_are_deterministic() -> None:
    """The same (service, handler, key, idempotency key) always gives the same id."""
    a = InvocationId.for_idempotency_key("svc", "h", "k", "idem-1")
    b = InvocationId.for_idempotency_key("svc", "h", "k", "idem-1")
    assert a == b
    assert str(a) == str(b)


def test_idempotency_ids_differ_across_inputs() -> None:
    """Changing service, handler, key (or its presence) or idempotency key changes the id."""
    base = ("svc", "h", "k", "idem")
    variants = [
        base,
        ("svc2", "h", "k", "idem"),
        ("svc", "h2", "k", "idem"),
        ("svc", "h", "k2", "idem"),
        ("svc", "h", None, "idem"),
        ("svc", "h", "", "idem"),
        ("svc", "h", "k", "idem2"),
    ]
    uuids = {InvocationId.for_idempotency_key(*v).uuid for v in variants}
    assert len(uuids) == len(variants)


def test_workflow_ids_differ_from_idempotency_ids() -> None:
    """A workflow run and an idempotent call with look-alike inputs never collide."""
    wf = InvocationId.for_workflow("svc", "k")
    assert wf == InvocationId.for_workflow("svc", "k")
    assert wf != InvocationId.for_workflow("svc", "k2")
    assert wf != InvocationId.for_workflow("svc2", "k")
    assert wf.uuid != InvocationId.for_idempotency_key("svc", "run", "k", "k").uuid


def test_partition_key_for_is_pinned() -> None:
    """partition_key_for is BLAKE2b-64 (big-endian) of the UTF-8 key: fixed values."""
    assert partition_key_for("my-key") == 0x9CA1E65C58380959
    assert partition_key_for("") == 0xE4A6A0577479B2B4


def test_partition_key_for_is_stable_across_processes() -> None:
    """A fresh interpreter (different hash seed) computes the same partition key."""
    code = "from wakeful.journal.ids import partition_key_for; print(partition_key_for('alice'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)},
    ).stdout
    assert int(out) == partition_key_for("alice")


def test_deterministic_rejects_out_of_range_partition_key() -> None:
    """A partition key outside u64 is a ValueError."""
    with pytest.raises(ValueError, match="u64"):
        InvocationId.deterministic("ik", ["a"], 2**64)
    with pytest.raises(ValueError, match="u64"):
        InvocationId.random(-1)


# --- random ids -----------------------------------------------------------------------------


def test_random_ids_are_ulid_shaped_and_unique() -> None:
    """random() gives distinct ids whose uuid starts with the current ms timestamp."""
    before = time.time_ns() // 1_000_000
    made = [InvocationId.random() for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == 1000
    assert all(before <= ulid_ms(inv.uuid) <= after for inv in made)
    assert len({inv.partition_key for inv in made}) > 990


def test_random_ids_differ_between_a_forked_child_and_its_parent() -> None:
    """A forked child draws fresh OS randomness: its ids never repeat the parent's."""
    import os

    InvocationId.random()  # the parent holds a partly used buffer of random bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id to the parent, exit without cleanup
        os.write(write, InvocationId.random().to_bytes())
        os._exit(0)
    os.close(write)
    child = InvocationId.from_bytes(os.read(read, 24))
    os.close(read)
    os.waitpid(pid, 0)
    parent = InvocationId.random()
    assert child.partition_key != parent.partition_key
    assert child.uuid & ((1 << 80) - 1) != parent.uuid & ((1 << 80) - 1)


def test_random_keeps_given_partition_key() -> None:
    """random(partition_key) keeps that key."""
    assert InvocationId.random(42).partition_key == 42
    assert InvocationId.random(2**64 - 1).partition_key == 2**64 - 1


# --- awakeable ids ----------------------------------------------------------------------------


def test_signal_constants() -> None:
    """CANCEL is signal 1 and the first awakeable is signal 17."""
    assert CANCEL_SIGNAL == 1
    assert FIRST_AWAKEABLE_SIGNAL == 17


@given(invocation_ids, U32)
def test_awakeable_id_round_trip(inv: InvocationId, index: int) -> None:
    """sign_1 ids are 44 characters and decode to the same invocation and signal index."""
    text = str(AwakeableId(inv, index))
    assert len(text) == 44
    assert text.startswith("sign_1")
    assert "=" not in text
    assert parse_awakeable_id(text) == AwakeableRef(inv, "signal", index)


def test_awakeable_id_layout() -> None:
    """The payload is unpadded URL-safe base64 of invocation bytes ‖ signal index u32 BE."""
    inv = InvocationId(0x0102030405060708, 2**128 - 1)
    text = str(AwakeableId(inv, FIRST_AWAKEABLE_SIGNAL))
    payload = base64.urlsafe_b64decode(text.removeprefix("sign_1") + "==")
    assert payload == inv.to_bytes() + (17).to_bytes(4, "big")
    assert "-" in text or "_" in text  # 0xff bytes need the URL-safe symbols


def test_awakeable_id_accepts_padding() -> None:
    """Padded (`==`) and partly padded (`=`) sign_1 ids are accepted, as by Restate."""
    aid = AwakeableId(InvocationId(5, 6), 18)
    expected = AwakeableRef(InvocationId(5, 6), "signal", 18)
    assert parse_awakeable_id(str(aid) + "==") == expected
    assert parse_awakeable_id(str(aid) + "=") == expected


def test_protocol_doc_prom_vector() -> None:
    """The protocol doc's prom_1 example is journal entry 1 of a 2024-01-25 ULID invocation."""
    ref = parse_awakeable_id(PROTOCOL_DOC_PROM_ID)
    assert ref.kind == "entry"
    assert ref.index == 1
    assert ref.invocation_id == InvocationId(0x34CC8E02F0CAD827, 0x18D41F84666FB786069D0334D0E79AC)
    assert ulid_ms(ref.invocation_id.uuid) == 1706208806502  # 2024-01-25T18:53:26.502Z
    assert str(ref) == PROTOCOL_DOC_PROM_ID


@given(invocation_ids, U32)
def test_prom_id_round_trip(inv: InvocationId, index: int) -> None:
    """prom_1 ids decode to kind "entry" with the journal entry index."""
    ref = AwakeableRef(inv, "entry", index)
    text = str(ref)
    assert text.startswith("prom_1")
    assert parse_awakeable_id(text) == ref


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


GOOD_PAYLOAD = _b64(bytes(range(28)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo", "bad format"),
        ("", "bad length"),
        ("foo_1abc", "unrecognized resource type: foo"),
        (DOCTOR_ID, "id doesn't match the expected type"),
        ("dp_11nGQpCRmau6ypL82KH2TnP", "id doesn't match the expected type"),
        ("sign_2" + GOOD_PAYLOAD, "unrecognized codec version"),
        ("prom_x" + GOOD_PAYLOAD, "unrecognized codec version"),
        ("sign_", "bad length"),
        ("prom_", "bad length"),
        ("prom_1", "bad length"),  # empty payload decodes to 0 bytes
        ("prom_1" + _b64(bytes(27)), "bad length"),
        ("prom_1" + _b64(bytes(29)), "bad length"),
        ("prom_1" + "!" * 38, "base62 decode error"),
        ("prom_1" + GOOD_PAYLOAD[:-1] + "B", "base62 decode error"),  # stray trailing bits
        ("prom_1" + GOOD_PAYLOAD + "===", "base62 decode error"),
        ("prom_1" + GOOD_PAYLOAD[:-1], "base62 decode error"),  # lone final symbol
        ("prom_1" + "+" + GOOD_PAYLOAD[1:], "base62 decode error"),  # not the URL-safe alphabet
        ("prom_1" + GOOD_PAYLOAD[:8] + "=" + GOOD_PAYLOAD[9:], "base62 decode error"),
    ],
)
def test_awakeable_error_reasons(text: str, expected: str) -> None:
    """Malformed awakeable ids fail with Restate's ingress reasons."""
    with pytest.raises(InvalidIdError) as e:
        parse_awakeable_id(text)
    assert reason(e) == expected


@pytest.mark.parametrize(
    ("payload", "cause"),
    [
        ("!" * 38, "base62 decode error"),
        (GOOD_PAYLOAD[:-1] + "B", "base62 decode error"),
        (_b64(bytes(27)), "bad length"),
        ("", "bad length"),
    ],
)
def test_bad_sign_payload_reports_type_mismatch(payload: str, cause: str) -> None:
    """A sign_1 id whose payload fails is `id doesn't match the expected type`, as in Restate
    (the ingress falls back to the prom parser); the sign-specific reason is the __cause__."""
    with pytest.raises(InvalidIdError) as e:
        parse_awakeable_id("sign_1" + payload)
    assert reason(e) == "id doesn't match the expected type"
    assert isinstance(e.value.__cause__, InvalidIdError)
    assert str(e.value.__cause__) == cause


@given(invocation_ids, U32, st.integers(0, 43), st.characters(codec="utf-8"))
def test_awakeable_fast_path_agrees_with_exact_decoder(
    inv: InvocationId, index: int, pos: int, ch: str
) -> None:
    """With one changed character, the sign_1 fast path and the generic decoder agree."""
    text = str(AwakeableId(inv, index))
    mutated = text[:pos] + ch + text[pos + 1 :]
    try:
        got: object = parse_awakeable_id(mutated)
    except InvalidIdError as e:
        got = str(e)
    if mutated.startswith("sign_1"):
        try:
            inv2, idx2 = ids._decode_awakeable_payload(mutated[6:])
            expected: object = AwakeableRef(inv2, "signal", idx2)
        except InvalidIdError:
            expected = "id doesn't match the expected type"
        assert got == expected
    else:
        assert isinstance(got, str)


@given(st.text(max_size=50))
def test_parse_awakeable_only_raises_invalid_id_error(text: str) -> None:
    """Arbitrary text either decodes or raises InvalidIdError (never another exception)."""
    try:
        ref = parse_awakeable_id(text)
    except InvalidIdError:
        return
    assert ref.kind in ("signal", "entry")


def test_invalid_id_error_is_a_value_error() -> None:
    """InvalidIdError can be caught as ValueError and its message is only the reason."""
    with pytest.raises(ValueError, match=r"^bad format$"):
        parse_awakeable_id("nounderscore")
