"""No signature without its log entry: signatures, refusals, replays and batches in the log."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from anima_signer.core import Signer
from anima_signer_api.errors import IdempotencyConflict, InvalidRequest, PolicyDenied
from anima_signer_api.types import (
    Agent,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    Payload,
    PersonalMessage,
    SignedTransaction,
    SignRequest,
    TypedData,
)
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.merkle import leaf_hash, root_from_leaf_hashes
from tests.signer.conftest import DEV_CHAIN, OPEN_POLICY
from tests.signer.test_sequencer import HostLog, messages, open_note
from tests.signer.test_signing import MAIL, tx


@pytest.fixture
def agent(signer: Signer) -> Agent:
    return signer.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)


@pytest.fixture
def host(signer: Signer, agent: Agent) -> HostLog:
    log = HostLog(signer, agent)
    log.append()
    return log


CASES: dict[str, tuple[Payload, dict[str, object]]] = {
    "personal_message": (PersonalMessage(b"gm", wallet_index=1), {}),
    "typed_data": (TypedData(json.dumps(MAIL)), {"chain_id": DEV_CHAIN}),
    "transaction": (tx(), {"chain_id": DEV_CHAIN}),
    "raw_ed25519": (Ed25519Message(b"hello"), {}),
}


@pytest.mark.parametrize("request_type", sorted(CASES))
def test_every_signature_has_its_entry(
    signer: Signer, agent: Agent, host: HostLog, request_type: str
) -> None:
    payload, extra = CASES[request_type]
    result = signer.sign(SignRequest("alice", payload))
    assert result.log_index == 1
    host.append()
    entry = host.decoded(result.log_index)
    assert entry.kind is EntryKind.SIGNATURE
    assert (entry.actor, entry.room) == ("signer", "")
    stored = host.payloads[result.log_index]
    assert entry.payload_sha256 == hashlib.sha256(stored).digest()
    expected: dict[str, object] = {
        "v": 1,
        "request": request_type,
        "signature": result.signature.hex(),
        **extra,
    }
    if isinstance(result, EthSignature):
        wallet = agent.wallets[1 if request_type == "personal_message" else 0]
        expected |= {"address": wallet.address, "digest": result.digest.hex()}
    elif isinstance(result, SignedTransaction):
        expected |= {"address": result.address, "transaction_hash": result.transaction_hash.hex()}
    else:
        assert isinstance(result, Ed25519Signature) and isinstance(payload, Ed25519Message)
        expected |= {
            "public_key": agent.signing_public_key.hex(),
            "message_sha256": hashlib.sha256(payload.message).hexdigest(),
        }
    assert host.payload_json(result.log_index) == expected


def test_a_refusal_is_logged_and_still_refused(signer: Signer, host: HostLog) -> None:
    with pytest.raises(PolicyDenied, match="max_value_wei"):
        signer.sign(SignRequest("alice", tx(value=10**30)))
    host.append()
    entry = host.decoded(1)
    assert entry.kind is EntryKind.POLICY_DECISION and entry.actor == "signer"
    document = host.payload_json(1)
    assert document["decision"] == "deny" and document["rule"] == "max_value_wei"
    assert document["request"] == "transaction"
    assert "exceeds the maximum" in str(document["reason"])


def test_malformed_requests_are_not_logged(signer: Signer, host: HostLog) -> None:
    with pytest.raises(InvalidRequest, match="wallet_index 5"):
        signer.sign(SignRequest("alice", PersonalMessage(b"x", wallet_index=5)))
    with pytest.raises(InvalidRequest):
        signer.sign(SignRequest("alice", TypedData("{not json")))
    assert host.append().entries == ()


def test_an_idempotent_replay_appends_nothing(signer: Signer, host: HostLog) -> None:
    request = SignRequest("alice", tx(), idempotency_key="pay-1")
    first = signer.sign(request)
    size = host.append().size
    assert signer.sign(request) == first and first.log_index == size - 1
    with pytest.raises(IdempotencyConflict):
        signer.sign(SignRequest("alice", tx(nonce=8), idempotency_key="pay-1"))
    assert host.append().size == size


def test_a_batch_commits_once_and_items_fail_alone(
    signer: Signer, host: HostLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer = signer._log
    signed_checkpoints: list[int] = []
    original = sequencer._sign_checkpoint

    def counting(agent_id: str, frontier: object) -> bytes:
        signed_checkpoints.append(1)
        return original(agent_id, frontier)  # type: ignore[arg-type]

    monkeypatch.setattr(sequencer, "_sign_checkpoint", counting)
    outcomes = signer.sign_many(
        [
            SignRequest("alice", tx(nonce=0)),
            SignRequest("alice", tx(chain_id=1)),  # denied: logged
            SignRequest("alice", PersonalMessage(b"x", wallet_index=9)),  # malformed: not logged
            SignRequest("nobody", tx()),  # unknown agent
            SignRequest("alice", Ed25519Message(b"y"), idempotency_key="k"),
            SignRequest("alice", Ed25519Message(b"y"), idempotency_key="k"),  # in-batch retry
            SignRequest("alice", Ed25519Message(b"z"), idempotency_key="k"),  # new payload
        ]
    )
    assert signed_checkpoints == [1]
    assert isinstance(outcomes[0], SignedTransaction) and outcomes[0].log_index == 1
    assert isinstance(outcomes[1], PolicyDenied)
    assert isinstance(outcomes[2], InvalidRequest)
    assert type(outcomes[3]).__name__ == "UnknownAgent"
    assert isinstance(outcomes[4], Ed25519Signature) and outcomes[4].log_index == 3
    assert outcomes[5] == outcomes[4]
    assert isinstance(outcomes[6], IdempotencyConflict)
    host.append()
    kinds = [host.decoded(i).kind for i in range(1, len(host.entries))]
    assert kinds == [EntryKind.SIGNATURE, EntryKind.POLICY_DECISION, EntryKind.SIGNATURE]
    retry = signer.sign(SignRequest("alice", Ed25519Message(b"y"), idempotency_key="k"))
    assert retry == outcomes[4]


def test_a_key_first_denied_in_a_batch_stays_free(signer: Signer, host: HostLog) -> None:
    outcomes = signer.sign_many(
        [
            SignRequest("alice", tx(chain_id=1), idempotency_key="k"),
            SignRequest("alice", tx(), idempotency_key="k"),
        ]
    )
    assert isinstance(outcomes[0], PolicyDenied)
    assert isinstance(outcomes[1], SignedTransaction) and outcomes[1].log_index == 2


def test_concurrent_signs_and_appends_keep_one_history(signer: Signer, host: HostLog) -> None:
    """Threads sign and append at once; the log stays one append-only history."""
    notes: list[bytes] = []
    lock = threading.Lock()

    def sign(n: int) -> int:
        return signer.sign(SignRequest("alice", Ed25519Message(n.to_bytes(4, "big")))).log_index

    def append(n: int) -> None:
        result = signer.append_log("alice", 1, messages(3, start=n))
        with lock:
            notes.append(result.checkpoint)

    with ThreadPoolExecutor(max_workers=6) as pool:
        indices = list(pool.map(sign, range(60)))
        list(pool.map(append, range(20)))
        indices += list(pool.map(sign, range(60, 100)))
    assert len(set(indices)) == 100
    final = host.append()
    assert final.size == 1 + 100 + 60
    leaves = [leaf_hash(e) for e in host.entries]
    for note in notes:
        # Every checkpoint handed out during the race is a prefix of the final history.
        body = open_note(host.agent, note)
        assert body.root_hash == root_from_leaf_hashes(leaves[: body.size])
    for index in indices:
        assert host.decoded(index).kind is EntryKind.SIGNATURE
