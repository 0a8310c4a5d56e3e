"""Property: what a caller or a chat message gives the chain client and the EVM plugin
(addresses, wei amounts, transfer requests) is parsed or refused with the project's
own error, whatever the text; never a stray ValueError, and never a different value."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_chain_api.errors import InvalidChainRequest
from anima_chain_api.types import UINT256_MAX, parse_address, parse_wei, show_address
from anima_runtime.plugins.evm.amounts import (
    TransferNotUnderstood,
    format_units,
    read_transfer,
    to_base_units,
)

FAST = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ADDRESS_LIKE = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789abcdefABCDEFx", min_size=40, max_size=44).map(lambda t: "0x" + t),
)


@FAST
@given(ADDRESS_LIKE)
def test_an_address_parses_to_20_bytes_or_is_refused(text: str) -> None:
    try:
        raw = parse_address(text)
    except InvalidChainRequest:
        return
    assert len(raw) == 20 and raw.hex() == text[2:].lower()


@FAST
@given(st.binary(min_size=20, max_size=20))
def test_the_checksummed_form_round_trips(raw: bytes) -> None:
    assert parse_address(show_address(raw)) == raw


@FAST
@given(st.one_of(st.text(max_size=90), st.integers(min_value=0, max_value=2**260).map(str)))
def test_wei_parses_to_a_uint256_or_is_refused(text: str) -> None:
    try:
        value = parse_wei(text)
    except InvalidChainRequest:
        return
    assert value == int(text) and value <= UINT256_MAX


@FAST
@given(st.text(max_size=120))
def test_a_transfer_request_is_read_or_refused_in_words(text: str) -> None:
    try:
        request = read_transfer(text)
    except TransferNotUnderstood:
        return
    assert len(request.to) == 20 and request.symbol == request.symbol.upper()
    assert request.amount_text in text


@FAST
@given(st.integers(min_value=1, max_value=10**30), st.integers(min_value=0, max_value=24))
def test_units_round_trip(value: int, decimals: int) -> None:
    text = format_units(value, decimals, "X").split()[0]
    assert to_base_units(text, decimals) == value
