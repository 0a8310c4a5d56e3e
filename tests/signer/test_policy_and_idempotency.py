"""The minimal policy gate (deny by default, the refusing rule named) and idempotency keys."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from anima_signer.core import Signer
from anima_signer_api.errors import IdempotencyConflict, PolicyDenied
from anima_signer_api.types import (
    Ed25519Message,
    PersonalMessage,
    SignedTransaction,
    SigningPolicy,
    SignRequest,
    TxType,
    TypedData,
)
from tests.signer.conftest import DEV_CHAIN, ONE_ETH, OPEN_POLICY, open_signer
from tests.signer.test_signing import MAIL, tx


def test_default_policy_denies_everything(signer: Signer) -> None:
    signer.create_agent(agent_id="locked", wallet_count=1, policy=SigningPolicy())
    cases = {
        "allowed_chain_ids": tx(value=0),
        "allow_personal_messages": PersonalMessage(b"hi"),
        "allow_typed_data": TypedData(json.dumps(MAIL)),
        "allow_raw_ed25519": Ed25519Message(b"hi"),
    }
    for rule, payload in cases.items():
        with pytest.raises(PolicyDenied) as info:
            signer.sign(SignRequest("locked", payload))
        assert info.value.rule == rule
        assert rule in info.value.message


def test_value_above_the_maximum_is_denied(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    free = tx(value=ONE_ETH, max_fee_per_gas=0, max_priority_fee_per_gas=0)
    assert isinstance(signer.sign(SignRequest("alice", free)), SignedTransaction)
    with pytest.raises(PolicyDenied, match="max_value_wei") as info:
        signer.sign(SignRequest("alice", tx(value=ONE_ETH + 1)))
    assert info.value.rule == "max_value_wei"


def test_chain_not_allowed(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    with pytest.raises(PolicyDenied, match="chain 1 is not allowed"):
        signer.sign(SignRequest("alice", tx(chain_id=1)))


def test_typed_data_for_another_chain_is_denied(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    other = {**MAIL, "domain": {**MAIL["domain"], "chainId": 1}}
    with pytest.raises(PolicyDenied, match="allowed_chain_ids"):
        signer.sign(SignRequest("alice", TypedData(json.dumps(other))))


def test_retry_with_the_same_key_returns_the_same_answer(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    request = SignRequest("alice", tx(), idempotency_key="pay-1")
    assert signer.sign(request) == signer.sign(request)


def test_same_key_different_payload_is_refused(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    first = signer.sign(SignRequest("alice", tx(value=1), idempotency_key="pay-1"))
    with pytest.raises(IdempotencyConflict, match="pay-1"):
        signer.sign(SignRequest("alice", tx(value=2), idempotency_key="pay-1"))
    assert signer.sign(SignRequest("alice", tx(value=1), idempotency_key="pay-1")) == first


async def test_idempotency_survives_a_restart(tmp_path: Path) -> None:
    first = await open_signer(tmp_path)
    first.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    answer = first.sign(SignRequest("alice", tx(), idempotency_key="pay-1"))
    first.close()
    second = await open_signer(tmp_path)
    try:
        assert second.sign(SignRequest("alice", tx(), idempotency_key="pay-1")) == answer
        with pytest.raises(IdempotencyConflict):
            second.sign(SignRequest("alice", tx(nonce=8), idempotency_key="pay-1"))
    finally:
        second.close()


def test_concurrent_retries_sign_once(signer: Signer) -> None:
    """Racing retries with one key and different payloads: exactly one payload wins."""
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    requests = [SignRequest("alice", tx(nonce=n % 2), idempotency_key="race") for n in range(16)]

    def attempt(request: SignRequest) -> object:
        try:
            return signer.sign(request)
        except IdempotencyConflict as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, requests))
    answers = {o.raw_transaction for o in outcomes if isinstance(o, SignedTransaction)}
    assert len(answers) == 1
    conflicts = [o for o in outcomes if isinstance(o, IdempotencyConflict)]
    assert len(conflicts) == 8  # the other payload, every time


def test_denied_request_consumes_no_idempotency_key(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    with pytest.raises(PolicyDenied):
        signer.sign(SignRequest("alice", tx(chain_id=DEV_CHAIN + 1), idempotency_key="k"))
    assert isinstance(
        signer.sign(SignRequest("alice", tx(), idempotency_key="k")), SignedTransaction
    )


def test_fees_count_against_the_maximum(signer: Signer) -> None:
    """A zero-value transaction with a huge fee would otherwise drain the wallet."""
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    greedy = tx(value=0, max_fee_per_gas=10**24, max_priority_fee_per_gas=10**24)
    with pytest.raises(PolicyDenied, match="maximum fee") as info:
        signer.sign(SignRequest("alice", greedy))
    assert info.value.rule == "max_value_wei"
    legacy = tx(
        type=TxType.LEGACY,
        value=0,
        gas_price=10**40,
        max_fee_per_gas=None,
        max_priority_fee_per_gas=None,
    )
    with pytest.raises(PolicyDenied, match="maximum fee"):
        signer.sign(SignRequest("alice", legacy))
    # Value and fee that fit together are signed.
    fits = tx(value=ONE_ETH - 21_000 * 3 * 10**9)
    assert isinstance(signer.sign(SignRequest("alice", fits)), SignedTransaction)
    with pytest.raises(PolicyDenied, match="maximum fee"):
        signer.sign(SignRequest("alice", tx(value=ONE_ETH - 21_000 * 3 * 10**9 + 1)))


def test_typed_data_without_a_chain_id_is_denied(signer: Signer) -> None:
    signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    chainless = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "Mail": [{"name": "x", "type": "uint256"}],
        },
        "primaryType": "Mail",
        "domain": {"name": "a"},
        "message": {"x": 1},
    }
    with pytest.raises(PolicyDenied, match="replayable on any chain") as info:
        signer.sign(SignRequest("alice", TypedData(json.dumps(chainless))))
    assert info.value.rule == "allowed_chain_ids"
