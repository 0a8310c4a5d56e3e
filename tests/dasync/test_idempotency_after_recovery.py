"""Idempotency records travel in the signer-state chunk: a request node A answered,
retried on node B after the recovery with the same key, gets node A's signature back
(no second signature, no new log entry); the same key with another payload is refused.
The real parts of test_recovery: anvil, the local DA backend, 2-of-3 guardians."""

from __future__ import annotations

import dataclasses
import json

import pytest

from anima_dev.recovery import SyncState, sync_life_data
from anima_signer.core import Signer
from anima_signer.recovery import SignerStateSnapshot
from anima_signer_api.errors import IdempotencyConflict, InvalidRequest
from anima_signer_api.types import PersonalMessage, SignRequest
from tests.dasync.test_recovery import (  # noqa: F401 (fixtures)
    World,
    _manifest,
    _recover,
    anvil,
    world,
)
from tests.signer.conftest import open_signer


def _request(message: bytes, key: str) -> SignRequest:
    return SignRequest(
        agent_id="alice",
        payload=PersonalMessage(wallet_index=0, message=message),
        idempotency_key=key,
    )


async def _sign_on_node_a_and_sync(w: World) -> object:
    node_a = await open_signer(w.node_a_dir)
    try:
        first = node_a.sign(_request(b"pay the rent", "rent-2026-12"))
        synced = _manifest(w)
        state = SyncState(manifest=synced, log_size=synced.counts["log_entries"])
        sync_life_data(
            node_a, "alice", backend=w.backend, state=state, memories=[], epoch=0, anchor=w.target
        )
    finally:
        node_a.close()
    return first


async def test_a_retry_after_recovery_gets_the_original_signature(world: World) -> None:  # noqa: F811
    first = await _sign_on_node_a_and_sync(world)
    tee, state_dir = world.node_b()
    node_b = await Signer.open(tee=tee, state_dir=state_dir, log_origin_prefix="b.anima/agents")
    try:
        recovered = await _recover(world, node_b, tee)
        size = node_b.append_log("alice", len(recovered.log_entries), []).size
        again = node_b.sign(_request(b"pay the rent", "rent-2026-12"))
        assert again == first  # the same signature and the log index node A gave it
        assert node_b.append_log("alice", size, []).size == size  # nothing signed twice
        with pytest.raises(IdempotencyConflict):
            node_b.sign(_request(b"pay the rent twice", "rent-2026-12"))
        fresh = node_b.sign(_request(b"pay the rent", "rent-2027-01"))
        assert fresh.log_index == size  # a new key is a new signature, logged on node B
    finally:
        node_b.close()
    # The records are node B's own now: they survive its restart.
    node_b = await Signer.open(tee=tee, state_dir=state_dir, log_origin_prefix="b.anima/agents")
    try:
        assert node_b.sign(_request(b"pay the rent", "rent-2026-12")) == first
    finally:
        node_b.close()


def _snapshot_with(records: list[dict[str, object]]) -> bytes:
    from datetime import UTC, datetime

    from anima_signer.store import StoredAgent
    from anima_signer_api.types import SigningPolicy

    record = StoredAgent(
        agent_id="alice",
        wallet_count=1,
        policy=SigningPolicy(),
        created_at=datetime(2026, 12, 7, tzinfo=UTC),
        key_derivation_version=2,
        owner=None,
    )
    doc = json.loads(SignerStateSnapshot(record=record, log_origin="o/alice").to_bytes())
    doc["idempotency"] = records
    return json.dumps(doc).encode()


GOOD: dict[str, object] = {
    "key": "k",
    "fingerprint": "00" * 32,
    "response": json.dumps(
        {
            "type": "ed25519",
            "fields": {"public_key": "00" * 32, "signature": "00" * 64, "log_index": 3},
        }
    ),
}


@pytest.mark.parametrize(
    ("records", "says"),
    [
        ([{**GOOD, "key": ""}], "idempotency key is 1 to"),
        ([{**GOOD, "key": "k" * 10_000}], "idempotency key is 1 to"),
        ([{**GOOD, "fingerprint": "00" * 31}], "malformed"),
        ([{**GOOD, "fingerprint": "zz"}], "does not parse"),
        ([{**GOOD, "response": '{"type": "bitcoin", "fields": {}}'}], "answer stored"),
        ([{**GOOD, "response": "not json"}], "answer stored"),
        ([GOOD, GOOD], "appears twice"),
        ([{"key": "k"}], "does not parse"),
    ],
)
def test_a_malformed_idempotency_record_is_refused(
    records: list[dict[str, object]], says: str
) -> None:
    with pytest.raises(InvalidRequest, match=says):
        SignerStateSnapshot.from_bytes(_snapshot_with(records))


def test_a_version_1_signer_state_still_opens_without_records() -> None:
    doc = json.loads(_snapshot_with([]))
    doc["v"] = 1
    del doc["idempotency"]
    snapshot = SignerStateSnapshot.from_bytes(json.dumps(doc).encode())
    assert snapshot.idempotency == ()
    parsed = SignerStateSnapshot.from_bytes(_snapshot_with([GOOD]))
    assert dataclasses.astuple(parsed.idempotency[0])[0] == "k"
