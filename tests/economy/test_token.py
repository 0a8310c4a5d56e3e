"""The EIP-3009 token checks what a mock would not: the holder's EIP-712 signature, the
validity window and the nonce. Each forged, early, expired or replayed authorization
reverts on chain and moves nothing."""

from __future__ import annotations

import os
import time

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from anima_dev.contracts import send_from_dev_account
from anima_dev.economy import TOKEN_NAME, UNIT, EconomyContracts, give_token, token_balance
from anima_dev.local_chain import LocalChain
from anima_economy.eip3009 import Authorization, TokenDomain, settle_calldata, typed_data
from tests.economy.conftest import CHAIN_ID

HOLDER_KEY = "0x" + "a1" * 32
HOLDER = Account.from_key(HOLDER_KEY).address
PAYEE = to_checksum_address("0x" + "b2" * 20)


def signed(auth: Authorization, domain: TokenDomain, key: str = HOLDER_KEY) -> bytes:
    return bytes(Account.sign_typed_data(key, full_message=typed_data(auth, domain)).signature)


def submit(chain: LocalChain, token: str, auth: Authorization, signature: bytes) -> None:
    data = settle_calldata(auth, signature)
    send_from_dev_account(chain, {"to": token, "data": "0x" + data.hex(), "gas": hex(200_000)})


@pytest.fixture
def funded(anvil: LocalChain, contracts: EconomyContracts) -> TokenDomain:
    give_token(anvil, contracts.token, HOLDER, 10 * UNIT)
    return TokenDomain(TOKEN_NAME, "1", CHAIN_ID, contracts.token)


def fresh(value: int = UNIT, *, after: int = -60, before: int = 600) -> Authorization:
    now = int(time.time())
    return Authorization(HOLDER, PAYEE, value, now + after, now + before, os.urandom(32))


def test_a_valid_authorization_moves_exactly_its_value_once(
    anvil: LocalChain, funded: TokenDomain
) -> None:
    auth = fresh()
    signature = signed(auth, funded)
    before = token_balance(anvil, funded.token, HOLDER)
    submit(anvil, funded.token, auth, signature)
    assert token_balance(anvil, funded.token, HOLDER) == before - UNIT
    with pytest.raises(RuntimeError, match="failed"):  # the same nonce again
        submit(anvil, funded.token, auth, signature)
    assert token_balance(anvil, funded.token, HOLDER) == before - UNIT


@pytest.mark.parametrize(
    "case", ["forged", "expired", "not-yet-valid", "other-domain", "changed-value"]
)
def test_bad_authorizations_revert_and_move_nothing(
    anvil: LocalChain, funded: TokenDomain, case: str
) -> None:
    auth = fresh()
    signature = signed(auth, funded)
    if case == "forged":
        signature = signed(auth, funded, key="0x" + "c3" * 32)
    elif case == "expired":
        auth = fresh(after=-600, before=-1)
        signature = signed(auth, funded)
    elif case == "not-yet-valid":
        auth = fresh(after=600, before=1200)
        signature = signed(auth, funded)
    elif case == "other-domain":
        signature = signed(auth, TokenDomain(TOKEN_NAME, "1", 1, funded.token))
    elif case == "changed-value":
        auth = Authorization(auth.payer, auth.payee, 2 * UNIT, auth.valid_after,
                             auth.valid_before, auth.nonce)  # fmt: skip
    before = token_balance(anvil, funded.token, HOLDER)
    with pytest.raises(RuntimeError, match="failed"):
        submit(anvil, funded.token, auth, signature)
    assert token_balance(anvil, funded.token, HOLDER) == before
