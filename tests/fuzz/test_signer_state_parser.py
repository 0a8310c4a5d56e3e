"""Property: on any bytes, the signer-state chunk parser (with its idempotency records)
raises only InvalidRequest, and what it accepts holds only well-formed records.
`python -m tests.fuzz.test_signer_state_parser N` runs N mutations."""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_signer.idempotency import result_from_json
from anima_signer.recovery import SignerStateSnapshot
from anima_signer.store import IdempotencyRecord, StoredAgent
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import MAX_IDEMPOTENCY_KEY_CHARS, SigningPolicy
from tests.fuzz.targets import mutate

SEED = SignerStateSnapshot(
    record=StoredAgent(
        agent_id="alice",
        wallet_count=1,
        policy=SigningPolicy(),
        created_at=datetime(2026, 12, 7, tzinfo=UTC),
        key_derivation_version=2,
        owner=None,
    ),
    log_origin="fuzz.anima/agents/alice",
    idempotency=(
        IdempotencyRecord(
            key="rent-2026-12",
            fingerprint=bytes(32),
            response_json=json.dumps(
                {
                    "type": "ed25519",
                    "fields": {"public_key": "00" * 32, "signature": "11" * 64, "log_index": 4},
                }
            ),
        ),
    ),
).to_bytes()
FAST = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def attack(data: bytes) -> None:
    try:
        snapshot = SignerStateSnapshot.from_bytes(data)
    except InvalidRequest:
        return
    for record in snapshot.idempotency:
        assert 0 < len(record.key) <= MAX_IDEMPOTENCY_KEY_CHARS
        assert len(record.fingerprint) == 32
        result_from_json(record.response_json)


def test_the_seed_parses_back() -> None:
    assert SignerStateSnapshot.from_bytes(SEED).to_bytes() == SEED


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    """Found by this fuzzer: nested arrays made json.loads raise RecursionError. (Under
    Python's default recursion limit: a test run that raised it could overflow the C
    stack instead; the chunk is the enclave's own, authenticated before it is parsed.)"""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        SignerStateSnapshot.from_bytes(b"[" * 5_000)
    except InvalidRequest as refused:
        assert "nested too deep" in refused.message
    else:
        raise AssertionError("deeply nested JSON parsed")
    finally:
        sys.setrecursionlimit(limit)


@FAST
@given(data=st.binary(max_size=1024))
def test_random_bytes(data: bytes) -> None:
    attack(data)


@FAST
@given(rng=st.randoms(use_true_random=False))
def test_mutated_signer_states(rng: random.Random) -> None:
    attack(mutate(SEED, rng))


def main(examples: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for _ in range(examples):
        attack(mutate(SEED, rng))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
