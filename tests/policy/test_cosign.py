"""Owner co-signatures: above a threshold a request waits; the owner approves the exact
request with an EIP-712 signature; approvals are listed, expire, and sign once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from anima_signer_api.errors import (
    ApprovalUnavailable,
    CosignRequired,
    PolicyDenied,
    PolicyNotOwnerSigned,
    SignerError,
)
from anima_signer_api.policy_document import approval_typed_data
from anima_signer_api.types import PendingApproval, SignRequest, Transaction, TxType
from anima_verify.tlog.entry import EntryKind, decode_entry
from tests.policy.conftest import AGENT_ID, DEV_CHAIN, OWNER_KEY, STRANGER_KEY, Owned, document

FRIEND = to_checksum_address("0x" + "f1" * 20)
THRESHOLD = 10**18
RULES = [
    {"id": "small", "effect": "allow", "payloads": ["transaction"],
     "when": f"wei_lt(eth.tx.value, '{THRESHOLD}')"},
    {"id": "large", "effect": "allow", "payloads": ["transaction"],
     "when": f"wei_ge(eth.tx.value, '{THRESHOLD}') && wei_le(eth.tx.value, '{10 * THRESHOLD}')"},
]  # fmt: skip
COSIGN = {"rule_ids": ["large"], "ttl_seconds": 600}


def payment(value: int, nonce: int = 0) -> SignRequest:
    return SignRequest(
        AGENT_ID,
        Transaction(TxType.EIP1559, DEV_CHAIN, nonce, 21000, FRIEND, value, b"", None, 1, 1),
    )


def approve_signature(owned: Owned, pending: PendingApproval, key: str = OWNER_KEY) -> bytes:
    typed = approval_typed_data(
        agent_id=AGENT_ID,
        agent_address=owned.agent.wallets[0].address,
        approval_id=pending.approval_id,
        request_hash=pending.request_hash,
    )
    return bytes(Account.sign_typed_data(key, full_message=typed).signature)


@pytest.fixture
def cosigned(owned: Owned) -> Owned:
    now = [1_800_000_000_000]
    owned.signer._clock_ms = lambda: now[0]
    owned.now = now  # type: ignore[attr-defined]
    owned.apply(document(1, RULES, cosign=COSIGN))
    return owned


def _wait(owned: Owned, request: SignRequest) -> PendingApproval:
    with pytest.raises(CosignRequired) as caught:
        owned.signer.sign(request)
    [pending] = [
        p
        for p in owned.signer.pending_approvals(AGENT_ID)
        if p.approval_id == caught.value.approval_id
    ]
    assert pending.payload == request.payload and pending.rule == "large"
    return pending


def test_below_the_threshold_signs_at_once(cosigned: Owned) -> None:
    assert cosigned.signer.sign(payment(THRESHOLD - 1)).log_index > 0
    assert cosigned.signer.pending_approvals(AGENT_ID) == []


def test_above_the_threshold_waits_and_the_owners_approval_signs_it_once(cosigned: Owned) -> None:
    pending = _wait(cosigned, payment(2 * THRESHOLD))
    assert _wait(cosigned, payment(2 * THRESHOLD)) == pending  # a retry finds the same one
    result = cosigned.signer.approve(
        AGENT_ID, pending.approval_id, approve_signature(cosigned, pending)
    )
    entry = cosigned.signer._store.pending(AGENT_ID, result.log_index, result.log_index + 1)[0]
    assert decode_entry(entry.entry).kind is EntryKind.SIGNATURE
    logged = json.loads(entry.payload or b"")
    assert (logged["rule"], logged["approval_id"]) == ("large", pending.approval_id)
    with pytest.raises(ApprovalUnavailable, match="used already"):
        cosigned.signer.approve(AGENT_ID, pending.approval_id, approve_signature(cosigned, pending))
    assert cosigned.signer.pending_approvals(AGENT_ID) == []


def test_concurrent_approvals_sign_exactly_once(cosigned: Owned) -> None:
    pending = _wait(cosigned, payment(3 * THRESHOLD))
    signature = approve_signature(cosigned, pending)

    def approve(_: int) -> object:
        try:
            return cosigned.signer.approve(AGENT_ID, pending.approval_id, signature)
        except SignerError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(approve, range(64)))
    assert sum(not isinstance(o, SignerError) for o in outcomes) == 1
    assert all(isinstance(o, ApprovalUnavailable) for o in outcomes if isinstance(o, SignerError))


def test_an_approval_by_someone_else_is_refused(cosigned: Owned) -> None:
    pending = _wait(cosigned, payment(2 * THRESHOLD))
    forged = approve_signature(cosigned, pending, STRANGER_KEY)
    with pytest.raises(PolicyNotOwnerSigned):
        cosigned.signer.approve(AGENT_ID, pending.approval_id, forged)
    assert cosigned.signer.pending_approvals(AGENT_ID) == [pending]


def test_an_approval_of_one_request_does_not_approve_another(cosigned: Owned) -> None:
    first = _wait(cosigned, payment(2 * THRESHOLD))
    second = _wait(cosigned, payment(9 * THRESHOLD, nonce=1))
    with pytest.raises(PolicyNotOwnerSigned):
        cosigned.signer.approve(AGENT_ID, second.approval_id, approve_signature(cosigned, first))


def test_approvals_expire(cosigned: Owned) -> None:
    pending = _wait(cosigned, payment(2 * THRESHOLD))
    cosigned.now[0] += 600_000  # type: ignore[attr-defined]
    assert cosigned.signer.pending_approvals(AGENT_ID) == []
    with pytest.raises(ApprovalUnavailable, match="expired"):
        cosigned.signer.approve(AGENT_ID, pending.approval_id, approve_signature(cosigned, pending))


def test_an_approval_is_judged_again_under_a_newer_policy(cosigned: Owned) -> None:
    pending = _wait(cosigned, payment(2 * THRESHOLD))
    cosigned.apply(document(2, RULES[:1]))  # the owner dropped the large-payment rule
    with pytest.raises(PolicyDenied):
        cosigned.signer.approve(AGENT_ID, pending.approval_id, approve_signature(cosigned, pending))


def test_above_the_upper_bound_no_approval_helps(cosigned: Owned) -> None:
    with pytest.raises(PolicyDenied):
        cosigned.signer.sign(payment(11 * THRESHOLD))
    assert cosigned.signer.pending_approvals(AGENT_ID) == []


def test_the_dry_run_says_a_request_would_wait_for_the_owner(cosigned: Owned) -> None:
    explained = cosigned.signer.explain(payment(2 * THRESHOLD))
    assert (explained.allowed, explained.rule) == (False, "large")
    assert "co-signature" in explained.reason
    assert cosigned.signer.pending_approvals(AGENT_ID) == []  # nothing waits after a dry run


def test_a_runtime_cannot_flood_the_owners_queue(cosigned: Owned) -> None:
    from anima_signer.core import MAX_OPEN_APPROVALS

    for nonce in range(MAX_OPEN_APPROVALS):
        with pytest.raises(CosignRequired):
            cosigned.signer.sign(payment(2 * THRESHOLD, nonce=nonce))
    with pytest.raises(PolicyDenied) as caught:
        cosigned.signer.sign(payment(2 * THRESHOLD, nonce=MAX_OPEN_APPROVALS))
    assert caught.value.rule == "cosign_queue_full"
    assert len(cosigned.signer.pending_approvals(AGENT_ID)) == MAX_OPEN_APPROVALS
