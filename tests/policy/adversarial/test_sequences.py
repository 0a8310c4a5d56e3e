"""Attacks made of many calls: split transfers, concurrency, replays, idempotency-key
reuse, batches, bursts, and attempts on the policy itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from anima_signer_api.errors import (
    AgentExists,
    IdempotencyConflict,
    PolicyDenied,
    PolicyNotOwnerSigned,
    PolicyVersionStale,
    SignerError,
)
from anima_signer_api.types import SignRequest, SignResult, Transaction, TxType
from tests.policy.adversarial.conftest import (
    DAILY_WEI,
    FRIEND,
    OWNER_POLICY,
    RATE_PER_MINUTE,
    STRANGER,
    THIEF,
    TOKEN,
    TOKEN_DAILY,
    outside_policy,
)
from tests.policy.adversarial.test_single_requests import addr, call, message, tx
from tests.policy.conftest import AGENT_ID, OWNER, STRANGER_KEY, Owned, document, owner_signature

FEE = 21000
SPLIT = 9 * 10**15  # under the 0.01 ETH per-transaction limit


def _attempt(owned: Owned, requests: list[SignRequest], threads: int = 1) -> list[SignResult]:
    def one(request: SignRequest) -> SignResult | None:
        try:
            return owned.signer.sign(request)
        except SignerError:
            return None

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [r for r in pool.map(one, requests) if r is not None]


def _native_spent(requests: list[SignRequest], signed: list[SignResult]) -> int:
    return len(signed) * (SPLIT + FEE)


def _check_cap(attack: str, signed: list[SignResult], each: int, cap: int) -> None:
    allowed = cap // each
    outside_policy(attack, signed[allowed:])
    assert len(signed) <= allowed


def _split(n: int, wallet: int = 0) -> list[SignRequest]:
    requests = []
    for i in range(n):
        request = tx(FRIEND, SPLIT, wallet=wallet)
        payload = request.payload
        assert isinstance(payload, Transaction)
        requests.append(SignRequest(AGENT_ID, Transaction(
            TxType.EIP1559, payload.chain_id, i, payload.gas_limit, payload.to, payload.value,
            b"", None, 1, 1, wallet_index=wallet)))  # fmt: skip
    return requests


def test_split_transfers_under_the_per_tx_limit(victim: Owned) -> None:
    signed = _attempt(victim, _split(8))
    _check_cap("split transfers", signed, SPLIT + FEE, DAILY_WEI)
    assert len(signed) == 3


def test_split_transfers_across_two_wallets(victim: Owned) -> None:
    signed = _attempt(victim, _split(4, wallet=0) + _split(4, wallet=1))
    _check_cap("split across wallets", signed, SPLIT + FEE, DAILY_WEI)


def test_split_transfers_fired_concurrently(victim: Owned) -> None:
    signed = _attempt(victim, _split(60), threads=24)
    _check_cap("concurrent splits", signed, SPLIT + FEE, DAILY_WEI)


def test_split_transfers_in_one_batch(victim: Owned) -> None:
    outcomes = victim.signer.sign_many(_split(10))
    signed = [o for o in outcomes if not isinstance(o, SignerError)]
    _check_cap("batched splits", signed, SPLIT + FEE, DAILY_WEI)


def test_split_token_transfers(victim: Owned) -> None:
    requests = [tx(TOKEN, 0, call("a9059cbb", addr(FRIEND), 90)) for _ in range(6)]
    signed = _attempt(victim, requests)
    _check_cap("split token transfers", signed, 90, TOKEN_DAILY)


def test_a_burst_of_logins_is_rate_limited(victim: Owned) -> None:
    signed = _attempt(victim, [message(f"anima-login:burst{i:04d}") for i in range(40)], 8)
    outside_policy("login burst", signed[RATE_PER_MINUTE:])
    assert len(signed) == RATE_PER_MINUTE


def test_replaying_a_signed_request_does_not_sign_again(victim: Owned) -> None:
    request = SignRequest(AGENT_ID, tx(FRIEND, SPLIT).payload, idempotency_key="pay-1")
    first = victim.signer.sign(request)
    replays = _attempt(victim, [request] * 30, threads=8)
    assert all(r == first for r in replays)  # the same signature, the same log index
    signed = _attempt(victim, _split(5)[1:])  # the window still holds two more splits
    _check_cap("replay then split", [first, *signed], SPLIT + FEE, DAILY_WEI)
    assert len(signed) == 2


def test_reusing_an_idempotency_key_for_a_bigger_payment(victim: Owned) -> None:
    victim.signer.sign(SignRequest(AGENT_ID, tx(FRIEND, 1000).payload, idempotency_key="k"))
    bigger = SignRequest(AGENT_ID, tx(THIEF, 10**18).payload, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        victim.signer.sign(bigger)


def test_reusing_an_idempotency_key_inside_a_batch(victim: Owned) -> None:
    small = SignRequest(AGENT_ID, tx(FRIEND, 1000).payload, idempotency_key="b")
    other = SignRequest(AGENT_ID, tx(STRANGER, 1000).payload, idempotency_key="b")
    outcomes = victim.signer.sign_many([small, other])
    assert isinstance(outcomes[1], IdempotencyConflict | PolicyDenied)


def test_a_batch_mixing_allowed_and_forbidden_items(victim: Owned) -> None:
    outcomes = victim.signer.sign_many([tx(FRIEND, 1000), tx(THIEF, 1000), tx(FRIEND, 10**18)])
    assert not isinstance(outcomes[0], SignerError)
    assert all(isinstance(o, PolicyDenied) for o in outcomes[1:])


def test_approve_then_transfer_from(victim: Owned) -> None:
    approve = tx(TOKEN, 0, call("095ea7b3", addr(FRIEND), 200))
    pull = tx(TOKEN, 0, call("23b872dd", addr(STRANGER), addr(FRIEND), 200))
    assert _attempt(victim, [approve, pull]) == []


def test_probing_limits_with_dry_runs_signs_and_charges_nothing(victim: Owned) -> None:
    for request in _split(50):
        assert victim.signer.explain(request).allowed
    assert len(_attempt(victim, _split(3))) == 3  # the window was not charged by the probes


def test_a_policy_signed_by_the_runtime_is_refused(victim: Owned) -> None:
    text = document(2, [{"id": "everything", "effect": "allow"}])
    with pytest.raises(PolicyNotOwnerSigned):
        victim.signer.apply_policy(
            AGENT_ID, text, owner_signature(victim.agent, text, STRANGER_KEY)
        )
    assert _attempt(victim, [tx(THIEF, 10**18)]) == []


def test_an_unsigned_policy_is_refused(victim: Owned) -> None:
    text = document(2, [{"id": "everything", "effect": "allow"}])
    with pytest.raises(PolicyNotOwnerSigned):
        victim.signer.apply_policy(AGENT_ID, text, b"")


def test_replaying_an_older_owner_policy_is_refused(victim: Owned) -> None:
    loose = document(2, [{"id": "everything", "effect": "allow"}])
    loose_signature = owner_signature(victim.agent, loose)  # once signed by the owner...
    victim.apply(OWNER_POLICY.replace('"version": 1', '"version": 3'))  # ...then v3
    with pytest.raises(PolicyVersionStale):
        victim.signer.apply_policy(AGENT_ID, loose, loose_signature)
    assert _attempt(victim, [tx(THIEF, 10**18)]) == []


def test_the_admin_cannot_recreate_the_agent_with_an_open_policy(victim: Owned) -> None:
    with pytest.raises(AgentExists):
        victim.signer.create_agent(agent_id=AGENT_ID, wallet_count=1, owner=THIEF)
    assert victim.signer.get_agent(AGENT_ID).owner == OWNER.lower()


def test_the_owner_policy_cannot_be_swapped_for_the_same_version(victim: Owned) -> None:
    with pytest.raises(PolicyVersionStale):
        victim.signer.apply_policy(
            AGENT_ID, OWNER_POLICY, owner_signature(victim.agent, OWNER_POLICY)
        )
