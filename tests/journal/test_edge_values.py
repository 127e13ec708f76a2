"""Values from outside (ids, durations, far-off times) fail only in the ways callers handle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wakeful.errors import InvalidIdError
from wakeful.journal.codec import EncodeError, encode_entry
from wakeful.journal.entries import SleepCommand
from wakeful.journal.ids import InvocationId, parse_awakeable_id
from wakeful.journal.limits import MAX_TIMESTAMP_MS, latest_time_error
from wakeful.server.durations import parse_duration_ms

_ID_LIKE = st.one_of(
    st.text(),
    st.text(alphabet="inv_1sign_1prom_1AZaz09-_=%", max_size=80),
    st.builds(lambda body: "sign_1" + body, st.text(alphabet="AQgwz-_=", max_size=60)),
)


@given(_ID_LIKE)
def test_invocation_id_parsing_raises_only_invalid_id(text: str) -> None:
    """Any string parses to an id or raises InvalidIdError (the ingress turns it into a 400)."""
    try:
        parsed = InvocationId.parse(text)
    except InvalidIdError:
        return
    assert InvocationId.parse(str(parsed)) == parsed


@given(_ID_LIKE)
def test_awakeable_id_parsing_raises_only_invalid_id(text: str) -> None:
    """Any string parses to an awakeable reference or raises InvalidIdError."""
    try:
        ref = parse_awakeable_id(text)
    except InvalidIdError:
        return
    assert 0 <= ref.index < 2**32


@given(st.text(max_size=60))
def test_duration_parsing_raises_only_value_error(text: str) -> None:
    """Any `?delay=` value is a whole number of milliseconds or a ValueError."""
    try:
        ms = parse_duration_ms(text)
    except ValueError:
        return
    assert isinstance(ms, int)
    assert ms >= 0


def test_an_endless_duration_is_a_value_error() -> None:
    """A duration whose number does not fit a float is refused, not an OverflowError."""
    with pytest.raises(ValueError, match="too long"):
        parse_duration_ms("PT" + "9" * 400 + "S")


def test_the_latest_storable_time_is_the_end_of_year_9999() -> None:
    """Up to 9999-12-31T23:59:59.999Z is fine; one millisecond more is not."""
    assert latest_time_error(0, MAX_TIMESTAMP_MS) is None
    reason = latest_time_error(1, MAX_TIMESTAMP_MS)
    assert reason is not None
    assert "9999-12-31" in reason


def test_an_integer_past_64_bits_is_an_encode_error() -> None:
    """The codec names the entry instead of leaking msgspec's OverflowError."""
    with pytest.raises(EncodeError, match="SleepCommand"):
        encode_entry(SleepCommand(2**70, 1))
