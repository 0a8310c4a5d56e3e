"""The pure rules of peer migration (anima_verify.escrow.migration) and the envelope's
contents (anima_signer.migration.MigrationBundle): freshness, binding, sealing, and a
parser that refuses any bytes it cannot read with one specific error."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from anima_signer.migration import MigrationBundle
from anima_signer.store import LogStateRecord, StoredAgent
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.types import SequencedEntry, SigningPolicy
from anima_verify.attestation.errors import (
    InsecureEvidenceRefused,
    MeasurementMismatch,
    ReportDataMismatch,
)
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.escrow import MigrationRefused
from anima_verify.escrow.migration import (
    CHALLENGE_TTL_MS,
    CLOCK_SKEW_MS,
    check_challenge_fresh,
    migration_report_data,
    new_challenge,
    open_at_destination,
    seal_to_destination,
    verify_destination,
)
from anima_verify.escrow.release import recovery_report_data
from anima_verify.tlog.merkle import CompactRange
from tests.fuzz.targets import mutate

NOW_MS = 1_800_000_000_000
SIM = MeasurementPolicy.insecure_simulated_for_development()


def test_a_challenge_is_good_for_its_ttl_only() -> None:
    challenge = new_challenge(NOW_MS)
    assert len(challenge) == 32 and new_challenge(NOW_MS) != challenge
    check_challenge_fresh(challenge, now_ms=NOW_MS + CHALLENGE_TTL_MS)
    with pytest.raises(MigrationRefused, match="ask the destination for a new one"):
        check_challenge_fresh(challenge, now_ms=NOW_MS + CHALLENGE_TTL_MS + 1)
    with pytest.raises(MigrationRefused, match="future"):
        check_challenge_fresh(challenge, now_ms=NOW_MS - CLOCK_SKEW_MS - 1)
    with pytest.raises(MigrationRefused, match="32 bytes"):
        check_challenge_fresh(challenge[:-1], now_ms=NOW_MS)


def test_the_report_data_binds_agent_key_and_challenge_apart_from_recovery() -> None:
    key = X25519PrivateKey.generate().public_key()
    challenge = new_challenge(NOW_MS)
    base = migration_report_data(agent_id="alice", recipient=key, challenge=challenge)
    others = {
        migration_report_data(agent_id="bob", recipient=key, challenge=challenge),
        migration_report_data(
            agent_id="alice",
            recipient=X25519PrivateKey.generate().public_key(),
            challenge=challenge,
        ),
        migration_report_data(agent_id="alice", recipient=key, challenge=new_challenge(NOW_MS)),
        # Evidence a recovering enclave made for a guardian is no migration evidence.
        recovery_report_data(agent_id="alice", recipient=key, nonce=challenge),
    }
    assert base not in others and len(others) == 4


async def test_the_destination_is_checked_against_the_policy(tmp_path: object) -> None:
    tee = InsecureSimulatedTee(state_dir=tmp_path)  # type: ignore[arg-type]
    key = X25519PrivateKey.generate()
    challenge = new_challenge(NOW_MS)
    evidence = await tee.attest(
        migration_report_data(agent_id="alice", recipient=key.public_key(), challenge=challenge)
    )
    asked = {"agent_id": "alice", "recipient": key.public_key(), "challenge": challenge}
    verified = verify_destination(evidence, **asked, policy=SIM, now_ms=NOW_MS)  # type: ignore[arg-type]
    assert verified.tee == "sim"
    strict = MeasurementPolicy.from_json(json.dumps({"mrtd": [verified.mrtd.hex()]}))
    with pytest.raises(InsecureEvidenceRefused):
        verify_destination(evidence, **asked, policy=strict, now_ms=NOW_MS)  # type: ignore[arg-type]
    elsewhere = MeasurementPolicy.from_json(
        json.dumps({"mrtd": ["00" * 48], "allow_insecure_simulated": True})
    )
    with pytest.raises(MeasurementMismatch):
        verify_destination(evidence, **asked, policy=elsewhere, now_ms=NOW_MS)  # type: ignore[arg-type]
    with pytest.raises(ReportDataMismatch):
        verify_destination(evidence, **{**asked, "agent_id": "bob"}, policy=SIM, now_ms=NOW_MS)  # type: ignore[arg-type]
    with pytest.raises(MigrationRefused):  # stale before anything else is looked at
        verify_destination(
            evidence,
            **asked,  # type: ignore[arg-type]
            policy=SIM,
            now_ms=NOW_MS + CHALLENGE_TTL_MS + 1,
        )


def test_an_envelope_opens_only_for_its_agent_key_and_challenge() -> None:
    key = X25519PrivateKey.generate()
    challenge = new_challenge(NOW_MS)
    sealed = seal_to_destination(
        b"state", agent_id="alice", recipient=key.public_key(), challenge=challenge
    )
    assert open_at_destination(sealed, agent_id="alice", recipient_key=key, challenge=challenge)
    wrong = [
        {"agent_id": "bob", "recipient_key": key, "challenge": challenge},
        {"agent_id": "alice", "recipient_key": X25519PrivateKey.generate(), "challenge": challenge},
        {"agent_id": "alice", "recipient_key": key, "challenge": new_challenge(NOW_MS)},
    ]
    for asked in wrong:
        with pytest.raises(MigrationRefused, match="does not open"):
            open_at_destination(sealed, **asked)  # type: ignore[arg-type]
    with pytest.raises(MigrationRefused):
        open_at_destination(
            sealed[:-1] + bytes([sealed[-1] ^ 1]),
            agent_id="alice",
            recipient_key=key,
            challenge=challenge,
        )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_bundle_parser_refuses_garbage_with_one_error(data: bytes) -> None:
    with pytest.raises(MigrationRefused):
        MigrationBundle.from_bytes(data)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
)
def test_bundle_parser_refuses_any_json_shape(doc: object) -> None:
    with pytest.raises(MigrationRefused):
        MigrationBundle.from_bytes(json.dumps(doc).encode())


def _genuine_bundle() -> bytes:
    record = StoredAgent(
        agent_id="alice",
        wallet_count=1,
        policy=SigningPolicy(),
        created_at=datetime(2026, 12, 7, tzinfo=UTC),
        key_derivation_version=2,
    )
    frontier = CompactRange()
    frontier.append(bytes(32))
    return MigrationBundle(
        agent_id="alice",
        challenge=new_challenge(NOW_MS),
        agent_root=bytes(range(32)),
        epoch=0,
        record=record,
        policy_json=json.dumps({"mrtd": ["00" * 48]}),
        log=LogStateRecord(
            agent_id="alice",
            origin="fuzz.anima/agents/alice",
            frontier=frontier.to_bytes(),
            last_time_ms=NOW_MS,
            checkpoint=b"note",
            released=0,
        ),
        tail=(SequencedEntry(b"entry", b"payload"),),
        rows={"policy_window": [(b"w", b"[]")]},
        idempotency=[("k-1", b"{}")],
    ).to_bytes()


def test_a_genuine_bundle_round_trips_and_hides_its_root() -> None:
    data = _genuine_bundle()
    bundle = MigrationBundle.from_bytes(data)
    assert bundle.to_bytes() == data and bundle.log_size == 1
    assert bytes(range(32)).hex() not in repr(bundle)


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_an_edited_bundle_parses_or_is_refused_with_one_error(rng: random.Random) -> None:
    with contextlib.suppress(MigrationRefused):
        MigrationBundle.from_bytes(mutate(_genuine_bundle(), rng))
