"""Property: on any bytes the manifest parser and verifier, the escrow share parser and
the guardian's share opening raise only their own families' errors, and no edit of a
signed manifest or a sealed share is ever accepted. `python -m
tests.fuzz.test_recovery_parsers N` runs N examples."""

from __future__ import annotations

import contextlib
import json
import random
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_verify.attestation import AttestationError
from anima_verify.escrow import EscrowError, EscrowShare, open_as_guardian, seal_to_guardian
from anima_verify.escrow.shamir import Share
from anima_verify.lifedata import (
    ChunkRef,
    LifeDataError,
    MalformedManifest,
    Manifest,
    SignedManifest,
    parse_signed_manifest,
    verify_manifest,
)
from anima_verify.tlog.checkpoint import Checkpoint
from anima_verify.tlog.note import parse_verifier_key, sign_note, verifier_key
from tests.fuzz.targets import mutate

LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ORIGIN = "fuzz.anima/agents/alice"
VERIFIER = parse_verifier_key(verifier_key(ORIGIN, LOG_KEY.public_key().public_bytes_raw()))
CHECKPOINT = sign_note(
    Checkpoint(origin=ORIGIN, size=3, root_hash=bytes(32)).to_text(),
    name=ORIGIN,
    private_key=LOG_KEY,
).to_bytes()
MANIFEST = Manifest(
    agent_id="alice",
    version=2,
    previous="ab" * 32,
    epoch=1,
    chunks=(ChunkRef(chunk_id="cd" * 32, kind="memories", size=120, items=4),),
    checkpoint=CHECKPOINT.decode(),
    counts={"memories": 4},
)
SIGNED = SignedManifest(
    manifest=MANIFEST, signature=LOG_KEY.sign(MANIFEST.signing_message())
).to_bytes()
GUARDIAN = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SHARE = seal_to_guardian(
    EscrowShare(
        agent_id="alice",
        escrow_id="ef" * 16,
        share=Share(1, bytes(32)),
        threshold=2,
        shares=3,
        policy_json=json.dumps({"mrtd": ["00" * 48]}),
        identity=bytes(32),
    ),
    GUARDIAN.public_key(),
)
FAST = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def attack_manifest(data: bytes) -> None:
    with contextlib.suppress(LifeDataError):
        parse_signed_manifest(data)
    try:
        verify_manifest(data, agent_id="alice", log_verifier=VERIFIER)
    except LifeDataError:
        return
    assert data == SIGNED or parse_signed_manifest(data).manifest == MANIFEST, "an edit verified"


def attack_share(data: bytes) -> None:
    with contextlib.suppress(EscrowError, AttestationError):
        EscrowShare.from_bytes(data)
    try:
        open_as_guardian(data, GUARDIAN, agent_id="alice")
    except EscrowError:
        return
    assert data == SHARE, "an edited sealed share opened"


def test_the_seeds_verify() -> None:
    assert verify_manifest(SIGNED, agent_id="alice", log_verifier=VERIFIER).manifest == MANIFEST
    assert open_as_guardian(SHARE, GUARDIAN, agent_id="alice").share.index == 1


def test_a_lone_surrogate_escape_is_malformed_not_a_crash() -> None:
    """Found by this fuzzer: a \\ud800 escape made the parser raise UnicodeEncodeError."""
    outer = json.loads(SIGNED)
    for field in ("agent_id", "checkpoint"):
        doc = json.loads(outer["manifest"])
        doc[field] = "\ud800"
        body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        data = json.dumps({"manifest": body, "signature": outer["signature"]}).encode()
        with pytest.raises(MalformedManifest):
            parse_signed_manifest(data)
    data = json.dumps({"manifest": "\ud800", "signature": outer["signature"]}).encode()
    with pytest.raises(MalformedManifest):
        parse_signed_manifest(data)


@FAST
@given(data=st.binary(max_size=1024))
def test_random_bytes(data: bytes) -> None:
    attack_manifest(data)
    attack_share(data)


@FAST
@given(rng=st.randoms(use_true_random=False))
def test_mutated_manifests_and_shares(rng: random.Random) -> None:
    attack_manifest(mutate(SIGNED, rng))
    attack_share(mutate(SHARE, rng))


def main(examples: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for _ in range(examples):
        attack_manifest(mutate(SIGNED, rng))
        attack_share(mutate(SHARE, rng))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
