"""Property: what a seller or a registration host sends (402 requirements, settlement
headers, EIP-3009 authorizations, registration files) either parses or raises the
economy's own errors (EconomyError), never anything a caller would not catch.

Derandomized, like the other fuzz tests: reproducible in CI.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_economy.eip3009 import Authorization
from anima_economy.erc8004 import AgentCard
from anima_economy.errors import EconomyError
from anima_economy.payer import parse_payment_required

FAST = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
VALID_AUTH = {"from": "0x" + "11" * 20, "to": "0x" + "22" * 20, "value": "1",
              "validAfter": "0", "validBefore": "9", "nonce": "0x" + "33" * 32}  # fmt: skip


@FAST
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_402_header_parses_or_is_refused_as_malformed(raw: bytes) -> None:
    header = base64.b64encode(raw).decode()
    response = httpx.Response(402, headers={"PAYMENT-REQUIRED": header})
    with contextlib.suppress(EconomyError):
        parse_payment_required(response)


@FAST
@given(st.dictionaries(st.sampled_from(sorted(VALID_AUTH)), json_values, max_size=6))
def test_any_authorization_parses_or_is_refused(changes: dict[str, Any]) -> None:
    try:
        found = Authorization.from_wire(VALID_AUTH | changes)
    except EconomyError:
        return
    assert 0 <= found.value < 2**256 and len(found.nonce) == 32


@FAST
@given(json_values)
def test_any_registration_file_parses_or_is_refused(document: Any) -> None:
    with contextlib.suppress(EconomyError):
        AgentCard.from_bytes(json.dumps(document).encode())
