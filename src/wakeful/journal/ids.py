"""Invocation ids and awakeable ids, textually compatible with Restate 1.7.

Formats (observed from Restate's `identifiers.rs`, `id_util.rs`, `base62_util.rs`):

* binary invocation id: partition key (u64 BE) ‖ uuid (u128 BE), 24 bytes;
* `inv_1…`: `inv` `_` `1`, then the partition key and the uuid, each byte-swapped (Restate
  encodes `n.to_be()` on a little-endian host) and written in base62 with the alphabet
  `0-9a-zA-Z`, left-padded with `0` to 11 and 22 characters: 38 characters in all;
* `sign_1…` (awakeable, current): `sign_1` + unpadded URL-safe base64 of the 24 invocation bytes
  ‖ signal index (u32 BE): 44 characters; `prom_1…` (legacy) has a journal entry index instead.

Parse errors are `InvalidIdError` whose message is exactly Restate's `IdDecodeError` text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, NoReturn

from wakeful.errors import InvalidIdError
from wakeful.journal.scopes import scoped_key

__all__ = [
    "BAD_FORMAT",
    "BAD_LENGTH",
    "CANCEL_SIGNAL",
    "CODEC_ERROR",
    "FIRST_AWAKEABLE_SIGNAL",
    "TYPE_MISMATCH",
    "UNRECOGNIZED_VERSION",
    "AwakeableId",
    "AwakeableKind",
    "AwakeableRef",
    "InvocationId",
    "parse_awakeable_id",
    "partition_key_for",
]

CANCEL_SIGNAL = 1
"""Built-in signal index that cancels an invocation (2 to 15 are reserved)."""
FIRST_AWAKEABLE_SIGNAL = 17
"""Signal index of an invocation's first awakeable; later ones count up from here."""

# Restate's `IdDecodeError` messages (crates/types/src/errors.rs).
BAD_LENGTH = "bad length"
CODEC_ERROR = "base62 decode error"  # Restate reports base64 failures with this text too
BAD_FORMAT = "bad format"
UNRECOGNIZED_VERSION = "unrecognized codec version"
TYPE_MISMATCH = "id doesn't match the expected type"
_UNRECOGNIZED_TYPE = "unrecognized resource type: "

# Prefixes Restate knows (id_util.rs `IdResourceType`); any other one is "unrecognized".
_RESOURCE_PREFIXES = frozenset({"inv", "dp", "sub", "prom", "sign", "snap", "mut", "vq"})

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_U128 = (1 << 128) - 1
_PK_WIDTH = 11  # ceil(64 / 6) base62 characters
_UUID_WIDTH = 22  # ceil(128 / 6)
_INV_PREFIX = "inv_1"
_INV_LEN = len(_INV_PREFIX) + _PK_WIDTH + _UUID_WIDTH  # 38
_RAW_LEN = 24
_AWAKEABLE_RAW_LEN = _RAW_LEN + 4

_B62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_B62_VALUE = {c: i for i, c in enumerate(_B62)}
_B62_BYTE_VALUE = {ord(c): i for i, c in enumerate(_B62)}
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_VALUE = {c: i for i, c in enumerate(_B64URL)}
_B64URL_BODY = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)
# URL-safe → standard alphabet for binascii; `+` and `/` become `!`, which strict mode rejects.
_B64URL_TO_STD = bytes.maketrans(b"-_+/", b"+/!!")
_SIGN_ID_LEN = 44  # "sign_1" + 38 unpadded base64 characters
_SIGN_ID_LAST = frozenset("AQgw")  # the final symbol of 28 bytes carries 4 zero bits

_HASH_SEPARATOR = b","  # 0x2c, between the parts of a deterministic uuid's hash input


class _Entropy:
    """Bytes from the OS's CSPRNG, drawn 4 KiB at a time.

    One `getrandom` call serves about 200 ids; a call per id releases the GIL, and on a busy
    server the event loop then waits for it behind the storage thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._position = 0
        os.register_at_fork(after_in_child=self._forget)  # a child must not reuse our bytes

    def _forget(self) -> None:
        self._buffer, self._position = b"", 0

    def take(self, n: int) -> bytes:
        with self._lock:
            start = self._position
            if start + n > len(self._buffer):
                self._buffer, start = os.urandom(4096), 0
            self._position = start + n
            return self._buffer[start : start + n]


_entropy = _Entropy()


def _fail(reason: str) -> NoReturn:
    raise InvalidIdError(reason)


def _bswap64(n: int) -> int:
    return int.from_bytes(n.to_bytes(8, "big"), "little")


def _bswap128(n: int) -> int:
    return int.from_bytes(n.to_bytes(16, "big"), "little")


_B62_PAIRS = [a + b for a in _B62 for b in _B62]  # two base62 digits per divmod


def _b62_fixed(n: int, width: int) -> str:
    """`n` (< 62**width) in base62, left-padded with `0` to `width` characters."""
    pairs: list[str] = []
    while n:
        n, r = divmod(n, 3844)
        pairs.append(_B62_PAIRS[r])
    pairs.reverse()
    return "".join(pairs).rjust(width, "0")[-width:]


def _b62_value(text: str, start: int, end: int) -> int | None:
    """Value of `text[start:end]` in base62, or None if a character is not base62."""
    n = 0
    value = _B62_VALUE
    for i in range(start, end):
        v = value.get(text[i])
        if v is None:
            return None
        n = n * 62 + v
    return n


def partition_key_for(key: str) -> int:
    """Stable 64-bit partition key of a service key: BLAKE2b-64 of its UTF-8 bytes, big-endian.

    Restate uses xxh3 instead, so partition keys (and thus deterministic `inv_1…` strings)
    differ from a Restate server's; the 128-bit uuids are identical.
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class InvocationId(NamedTuple):
    """An invocation's identity: partition key (u64) and uuid (u128).

    A tuple, so hashing, equality and ordering (partition key first, as in Restate) are C-fast;
    it equals the plain tuple `(partition_key, uuid)`. Construction does not range-check:
    use the classmethods, or expect `OverflowError` from `to_bytes`/`str`.
    """

    partition_key: int
    uuid: int

    def to_bytes(self) -> bytes:
        """The 24-byte binary form: partition key u64 BE ‖ uuid u128 BE."""
        return self.partition_key.to_bytes(8, "big") + self.uuid.to_bytes(16, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> InvocationId:
        """Decode the 24-byte binary form; any other length is `bad length`."""
        if len(data) != _RAW_LEN:
            _fail(BAD_LENGTH)
        n = int.from_bytes(data, "big")
        return cls(n >> 128, n & _U128)

    def __str__(self) -> str:
        return _format_invocation_id(self.partition_key, self.uuid)

    @classmethod
    def parse(cls, text: str) -> InvocationId:
        """Parse `inv_1…`; raises `InvalidIdError` with Restate's reason."""
        if len(text) == _INV_LEN and text.startswith(_INV_PREFIX):
            pk = _b62_value(text, 5, 16)
            uuid = _b62_value(text, 16, _INV_LEN)
            if pk is not None and uuid is not None and pk <= _U64 and uuid <= _U128:
                return cls(_bswap64(pk), _bswap128(uuid))
        return _parse_invocation_id_exact(text)

    @classmethod
    def random(cls, partition_key: int | None = None) -> InvocationId:
        """A fresh id: ULID-shaped uuid (48-bit ms timestamp ‖ 80 random bits), like Restate.

        The partition key is random unless given.
        """
        if partition_key is None:
            partition_key = int.from_bytes(_entropy.take(8), "big")
        elif not 0 <= partition_key <= _U64:
            raise ValueError(f"partition key out of the u64 range: {partition_key}")
        ms = time.time_ns() // 1_000_000
        uuid = ((ms & 0xFFFF_FFFF_FFFF) << 80) | int.from_bytes(_entropy.take(10), "big")
        return cls(partition_key, uuid)

    @classmethod
    def deterministic(
        cls, kind: str, parts: Sequence[str | bytes], partition_key: int
    ) -> InvocationId:
        """Id whose uuid is the first 128 bits (BE) of sha256(kind ‖ ("," ‖ part)*).

        This is Restate's `InvocationUuid::generate` layout: kind `"ik"` or `"wf"`, str parts
        as UTF-8, each part preceded by one `0x2c` byte.
        """
        if not 0 <= partition_key <= _U64:
            raise ValueError(f"partition key out of the u64 range: {partition_key}")
        h = hashlib.sha256(kind.encode("utf-8"))
        for part in parts:
            h.update(_HASH_SEPARATOR)
            h.update(part.encode("utf-8") if isinstance(part, str) else part)
        return cls(partition_key, int.from_bytes(h.digest()[:16], "big"))

    @classmethod
    def for_idempotency_key(
        cls,
        service: str,
        handler: str,
        key: str | None,
        idempotency_key: str,
        scope: str | None = None,
    ) -> InvocationId:
        """The id of a request carrying an `idempotency-key` (same inputs, same id).

        uuid = sha256("ik", [scope,] service, [key,] handler, idempotency_key); partition key
        from the object/workflow key (with its scope), else from the idempotency key.
        """
        scoped = [] if scope is None else [scope]
        if key is None:
            parts = [*scoped, service, handler, idempotency_key]
            pk = partition_key_for(idempotency_key)
        else:
            parts = [*scoped, service, key, handler, idempotency_key]
            pk = partition_key_for(scoped_key(scope, key))
        return cls.deterministic("ik", parts, pk)

    @classmethod
    def for_workflow(cls, service: str, key: str, scope: str | None = None) -> InvocationId:
        """The id of a workflow's `run` for `key`: sha256("wf", [scope,] service, key)."""
        parts = [service, key] if scope is None else [scope, service, key]
        return cls.deterministic("wf", parts, partition_key_for(scoped_key(scope, key)))


@functools.lru_cache(maxsize=4096)  # an id is printed several times while it is in flight
def _format_invocation_id(partition_key: int, uuid: int) -> str:
    return (
        _INV_PREFIX
        + _b62_fixed(_bswap64(partition_key), _PK_WIDTH)
        + _b62_fixed(_bswap128(uuid), _UUID_WIDTH)
    )


def _decode_header(text: str) -> tuple[str, str]:
    """Split `{prefix}_{version}{body}` like Restate's `IdDecoder::new`: (prefix, body)."""
    if not text:
        _fail(BAD_LENGTH)
    prefix, sep, rest = text.partition("_")
    if not sep:
        _fail(BAD_FORMAT)
    if prefix not in _RESOURCE_PREFIXES:
        _fail(_UNRECOGNIZED_TYPE + prefix)
    # Restate reads one *byte*: a multi-byte first character is not a char boundary.
    if not rest or not rest[0].isascii():
        _fail(BAD_LENGTH)
    if rest[0] != "1":
        _fail(UNRECOGNIZED_VERSION)
    return prefix, rest[1:]


def _b62_field(raw: bytes, start: int, end: int, maximum: int) -> int:
    """Decode the fixed-width base62 field `raw[start:end]` like Restate's `decode_next`."""
    # Restate slices the UTF-8 string by byte offsets: short input, or an end offset inside a
    # multi-byte character, is `bad length`.
    if len(raw) < end or (len(raw) > end and raw[end] & 0xC0 == 0x80):
        _fail(BAD_LENGTH)
    n = 0
    for b in raw[start:end]:
        v = _B62_BYTE_VALUE.get(b)
        if v is None:
            _fail(CODEC_ERROR)
        n = n * 62 + v
    if n > maximum:  # overflows u128 in the base62 crate, or the field's own width
        _fail(CODEC_ERROR)
    return n


def _parse_invocation_id_exact(text: str) -> InvocationId:
    """The slow path of `InvocationId.parse`, reproducing Restate's error precedence."""
    prefix, body = _decode_header(text)
    if prefix != "inv":
        _fail(TYPE_MISMATCH)
    raw = body.encode("utf-8", "surrogatepass")
    pk = _b62_field(raw, 0, _PK_WIDTH, _U64)
    uuid = _b62_field(raw, _PK_WIDTH, _PK_WIDTH + _UUID_WIDTH, _U128)
    if len(raw) != _PK_WIDTH + _UUID_WIDTH:
        _fail(BAD_LENGTH)
    return InvocationId(_bswap64(pk), _bswap128(uuid))


def _encode_awakeable(prefix: str, invocation_id: InvocationId, index: int) -> str:
    raw = invocation_id.to_bytes() + index.to_bytes(4, "big")
    return prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class AwakeableId(NamedTuple):
    """An awakeable as the SDK mints it: owning invocation and signal index (17, 18, …)."""

    invocation_id: InvocationId
    signal_index: int

    def __str__(self) -> str:
        return _encode_awakeable("sign_1", self.invocation_id, self.signal_index)


AwakeableKind = Literal["signal", "entry"]


@dataclass(frozen=True, slots=True)
class AwakeableRef:
    """A decoded awakeable id: `signal` index (`sign_1…`) or journal `entry` index (`prom_1…`)."""

    invocation_id: InvocationId
    kind: AwakeableKind
    index: int

    def __str__(self) -> str:
        prefix = "sign_1" if self.kind == "signal" else "prom_1"
        return _encode_awakeable(prefix, self.invocation_id, self.index)


def _b64url_decode(text: str) -> bytes | None:
    """Decode like Restate's base64 engine (URL-safe, padding optional, no stray trailing bits).

    Returns None where Restate fails to decode.
    """
    core = text.rstrip("=")
    rem = len(core) & 3
    # A lone final symbol never decodes; padding may only complete the last quad (fully or
    # partly); `=` elsewhere, and any other character, is invalid.
    if rem == 1 or len(text) - len(core) > (4 - rem) & 3 or not _B64URL_BODY.fullmatch(core):
        return None
    if rem:
        if _B64URL_VALUE[core[-1]] & (0xF if rem == 2 else 0x3):
            return None  # non-canonical: bits below the last byte are set
        core += "==" if rem == 2 else "="
    return base64.urlsafe_b64decode(core)


def _decode_awakeable_payload(body: str) -> tuple[InvocationId, int]:
    raw = _b64url_decode(body)
    if raw is None:
        _fail(CODEC_ERROR)
    if len(raw) != _AWAKEABLE_RAW_LEN:
        _fail(BAD_LENGTH)
    n = int.from_bytes(raw, "big")
    return InvocationId(n >> 160, (n >> 32) & _U128), n & _U32


def parse_awakeable_id(text: str) -> AwakeableRef:
    """Decode `sign_1…` (signal index) or legacy `prom_1…` (journal entry index).

    Errors follow Restate's ingress, which tries `sign` and then reports the `prom` attempt's
    error: a `sign_1…` whose payload does not decode is therefore `id doesn't match the
    expected type` (the `sign`-specific reason is chained as `__cause__`).
    """
    if len(text) == _SIGN_ID_LEN and text.startswith("sign_1") and text[-1] in _SIGN_ID_LAST:
        try:
            payload = text[6:].encode("ascii").translate(_B64URL_TO_STD) + b"=="
            raw = binascii.a2b_base64(payload, strict_mode=True)
        except (UnicodeEncodeError, binascii.Error):
            pass  # let the exact path below find the reason
        else:
            n = int.from_bytes(raw, "big")
            return AwakeableRef(InvocationId(n >> 160, (n >> 32) & _U128), "signal", n & _U32)
    prefix, body = _decode_header(text)
    if prefix == "sign":
        try:
            invocation_id, index = _decode_awakeable_payload(body)
        except InvalidIdError as e:
            raise InvalidIdError(TYPE_MISMATCH) from e
        return AwakeableRef(invocation_id, "signal", index)
    if prefix == "prom":
        invocation_id, index = _decode_awakeable_payload(body)
        return AwakeableRef(invocation_id, "entry", index)
    _fail(TYPE_MISMATCH)
