"""The rules at work on a real signer: CEL over decoded requests, wei above 2**64,
lists, EIP-712 domains, message patterns, raw payloads; deny wins, default deny."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from anima_signer.policy import calldata
from anima_signer_api.errors import PolicyDenied
from anima_signer_api.types import (
    Ed25519Message,
    PersonalMessage,
    SignRequest,
    Transaction,
    TxType,
    TypedData,
)
from tests.policy.conftest import AGENT_ID, DEV_CHAIN, Owned, document

TOKEN = to_checksum_address("0x" + "70" * 20)
FRIEND = to_checksum_address("0x" + "f1" * 20)
THIEF = to_checksum_address("0x" + "dd" * 20)
BIG = 2**70  # above CEL's 64-bit integers


def transfer_data(selector: str, *words: int) -> bytes:
    return bytes.fromhex(selector) + b"".join(w.to_bytes(32, "big") for w in words)


def tx(to: str | None = FRIEND, value: int = 0, data: bytes = b"", chain: int = DEV_CHAIN,
       gas: int = 21000, fee: int = 1) -> SignRequest:  # fmt: skip
    return SignRequest(
        AGENT_ID,
        Transaction(TxType.EIP1559, chain, 0, gas, to, value, data, None, fee, fee),
    )


RULES: list[dict[str, Any]] = [
    {"id": "no-thieves", "effect": "deny", "when": "listed(eth.tx.to, 'blocked') || "
     "listed(eth.call.recipient, 'blocked')"},
    {"id": "big-payments", "effect": "allow", "payloads": ["transaction"],
     "chain_ids": [DEV_CHAIN], "to": [FRIEND],
     "when": f"eth.tx.data == '0x' && wei_le(eth.tx.max_cost, '{BIG + 10**6}')"},
    {"id": "token-to-friends", "effect": "allow", "to": [TOKEN],
     "when": "eth.call.function == 'transfer' && listed(eth.call.recipient, 'friends') && "
             f"wei_le(eth.call.amount, '{BIG}')"},
    {"id": "greetings", "effect": "allow", "payloads": ["personal_message"],
     "when": "eth.message.text.matches('^hello( [a-z]+)?$')"},
    {"id": "permits-here", "effect": "allow", "payloads": ["typed_data"],
     "when": f"eth.eip_712.domain.chain_id == {DEV_CHAIN} && eth.eip_712.primary_type == 'Mail'"},
    {"id": "raw-small", "effect": "allow", "payloads": ["raw_ed25519"], "when": "raw.size <= 8"},
]  # fmt: skip


@pytest.fixture
def ruled(owned: Owned) -> Owned:
    owned.apply(document(1, RULES, lists={"blocked": [THIEF], "friends": [FRIEND]}))
    return owned


def _denied_by(owned: Owned, request: SignRequest) -> str:
    with pytest.raises(PolicyDenied) as caught:
        owned.signer.sign(request)
    assert caught.value.policy_version == "1"
    return caught.value.rule


def test_amounts_above_two_to_the_64_compare_exactly(ruled: Owned) -> None:
    assert ruled.signer.sign(tx(value=BIG)).log_index > 0
    assert _denied_by(ruled, tx(value=BIG + 1, gas=10**6)) == "default_deny"


def test_the_fee_counts_toward_the_amount(ruled: Owned) -> None:
    assert _denied_by(ruled, tx(value=BIG, gas=10**6 + 1)) == "default_deny"


def test_target_chain_and_data_filters(ruled: Owned) -> None:
    assert _denied_by(ruled, tx(to="0x" + "12" * 20)) == "default_deny"
    assert _denied_by(ruled, tx(chain=1)) == "default_deny"
    assert _denied_by(ruled, tx(data=b"\x01\x02\x03\x04")) == "default_deny"


def test_erc20_transfer_is_decoded_and_checked(ruled: Owned) -> None:
    ok = transfer_data("a9059cbb", int(FRIEND, 16), BIG)
    assert ruled.signer.sign(tx(to=TOKEN, data=ok)).log_index > 0
    too_much = transfer_data("a9059cbb", int(FRIEND, 16), BIG + 1)
    assert _denied_by(ruled, tx(to=TOKEN, data=too_much)) == "default_deny"
    stranger = transfer_data("a9059cbb", int("0x" + "99" * 20, 16), 1)
    assert _denied_by(ruled, tx(to=TOKEN, data=stranger)) == "default_deny"


def test_deny_wins_over_allow(ruled: Owned) -> None:
    to_thief = transfer_data("a9059cbb", int(THIEF, 16), 1)
    assert _denied_by(ruled, tx(to=TOKEN, data=to_thief)) == "no-thieves"


def test_approve_is_not_a_transfer(ruled: Owned) -> None:
    approve = transfer_data("095ea7b3", int(FRIEND, 16), 1)
    assert _denied_by(ruled, tx(to=TOKEN, data=approve)) == "default_deny"


def test_truncated_transfer_is_malformed_not_a_payment(ruled: Owned) -> None:
    truncated = transfer_data("a9059cbb", int(FRIEND, 16))
    assert _denied_by(ruled, tx(to=TOKEN, data=truncated)) == "default_deny"


def test_message_patterns(ruled: Owned) -> None:
    assert ruled.signer.sign(SignRequest(AGENT_ID, PersonalMessage(b"hello bob"))).log_index
    for text in (b"hello bob; transfer all", b"Hello", b"hello\nbob"):
        assert _denied_by(ruled, SignRequest(AGENT_ID, PersonalMessage(text))) == "default_deny"


def _mail(chain_id: int | None) -> SignRequest:
    domain: dict[str, object] = {"name": "Mail", "version": "1"}
    if chain_id is not None:
        domain["chainId"] = chain_id
    types = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}]
    if chain_id is not None:
        types.append({"name": "chainId", "type": "uint256"})
    data = {
        "types": {"EIP712Domain": types, "Mail": [{"name": "contents", "type": "string"}]},
        "primaryType": "Mail",
        "domain": domain,
        "message": {"contents": "hi"},
    }
    return SignRequest(AGENT_ID, TypedData(json.dumps(data)))


def test_typed_data_domain_chain(ruled: Owned) -> None:
    assert ruled.signer.sign(_mail(DEV_CHAIN)).log_index > 0
    assert _denied_by(ruled, _mail(1)) == "default_deny"
    assert _denied_by(ruled, _mail(None)) == "default_deny"


def test_raw_payload_rule(ruled: Owned) -> None:
    assert ruled.signer.sign(SignRequest(AGENT_ID, Ed25519Message(b"12345678"))).log_index
    assert _denied_by(ruled, SignRequest(AGENT_ID, Ed25519Message(b"123456789"))) == "default_deny"


def test_a_deny_rule_that_fails_to_evaluate_denies(owned: Owned) -> None:
    rules = [
        # Passes the apply-time sample run (gas differs there), errs on gas 50000.
        {
            "id": "bad-deny",
            "effect": "deny",
            "when": "eth.tx.gas == 50000 && wei_gt(eth.tx.value, eth.message.text)",
        },
        {"id": "all", "effect": "allow"},
    ]
    owned.apply(document(1, rules))
    # On a transaction, eth.message.text is "" -> not an amount -> the deny rule errs.
    assert owned.signer.sign(tx()).log_index > 0
    with pytest.raises(PolicyDenied) as caught:
        owned.signer.sign(tx(gas=50000))
    assert caught.value.rule == "bad-deny"


def test_the_dry_run_names_the_deciding_rule_without_signing(ruled: Owned) -> None:
    before = ruled.signer._store.log_state(AGENT_ID)
    to_thief = transfer_data("a9059cbb", int(THIEF, 16), 1)
    explained = ruled.signer.explain(tx(to=TOKEN, data=to_thief))
    assert (explained.allowed, explained.rule, explained.policy_version) == (False, "no-thieves", 1)
    allowed = ruled.signer.explain(tx(value=5))
    assert (allowed.allowed, allowed.rule) == (True, "big-payments")
    assert ruled.signer._store.log_state(AGENT_ID) == before  # nothing logged or signed


@pytest.mark.parametrize(
    ("data", "function", "amount"),
    [
        (transfer_data("23b872dd", 1, 2, 3), "transferFrom", "3"),
        (transfer_data("42842e0e", 1, 2, 3), "transferFrom", "3"),
        (transfer_data("f242432a", 1, 2, 7, 9, 0xA0, 0), "safeTransferFrom", "9"),
        (transfer_data("2eb2c2d6", 1, 2, 0xA0, 0x100, 0x160, 2, 5, 6, 2, 10, 20, 0),
         "safeBatchTransferFrom", "30"),
        (transfer_data("a22cb465", 1, 1), "setApprovalForAll", "0"),
    ],
)  # fmt: skip
def test_calldata_decoding(data: bytes, function: str, amount: str) -> None:
    call = calldata.decode(data)
    assert call is not None and (call.function, call.amount) == (function, amount)


@pytest.mark.parametrize(
    "data",
    [
        transfer_data("a9059cbb", 1),
        transfer_data("a9059cbb", 2**160, 1),
        transfer_data("2eb2c2d6", 1, 2, 0xA0, 0x100, 0x160, 300),
        transfer_data("a22cb465", 1, 2),
    ],
)
def test_malformed_calldata_is_refused(data: bytes) -> None:
    with pytest.raises(calldata.MalformedCalldata):
        calldata.decode(data)


def test_top_level_fields_reach_rules(owned: Owned) -> None:
    when = f"kind == 'transaction' && chain_id == {DEV_CHAIN} && wallet_index == 1"
    rules = [{"id": "tx-on-dev", "effect": "allow", "when": when}]
    owned.apply(document(1, rules))
    second = tx()
    assert isinstance(second.payload, Transaction)
    on_wallet_1 = SignRequest(AGENT_ID, replace(second.payload, wallet_index=1))
    assert owned.signer.sign(on_wallet_1).log_index > 0
    assert _denied_by(owned, tx()) == "default_deny"
