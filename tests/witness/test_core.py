"""The witness's checks, in process, each refusal with the status C2SP tlog-witness
gives it, and its state surviving a restart (reopened store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.checkpoint import Checkpoint
from anima_verify.tlog.cosignature import WitnessPolicy, parse_cosignature_lines
from anima_verify.tlog.extension import consistency_proof_from_frontier
from anima_verify.tlog.merkle import EMPTY_ROOT, CompactRange, leaf_hash
from anima_verify.tlog.note import Note, parse_note, sign_note, verifier_key
from anima_verify.tlog.witness_protocol import AddCheckpointRequest
from anima_witness.core import Witness
from anima_witness.errors import (
    BadWitnessRequest,
    InconsistentCheckpoint,
    LogKeyConflict,
    NotSignedByLog,
    OldSizeConflict,
    UnknownLog,
)
from anima_witness.store import WitnessStore

ORIGIN = "test.anima/agents/a"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG_VKEY = verifier_key(ORIGIN, LOG_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(40)]


def frontier(size: int, leaves: list[bytes] = LEAVES) -> CompactRange:
    f = CompactRange()
    f.extend(leaves[:size])
    return f


def signed(size: int, leaves: list[bytes] = LEAVES, key: Ed25519PrivateKey = LOG_KEY) -> bytes:
    body = Checkpoint(ORIGIN, size, frontier(size, leaves).root()).to_text()
    return sign_note(body, name=ORIGIN, private_key=key).to_bytes()


def request(old: int, size: int, leaves: list[bytes] = LEAVES, **kw: object) -> bytes:
    proof = consistency_proof_from_frontier(frontier(old, leaves), leaves[old:size])
    checkpoint = kw.get("checkpoint") or signed(size, leaves)
    return AddCheckpointRequest(old, tuple(proof), checkpoint).to_bytes()  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> WitnessStore:
    s = WitnessStore(path=tmp_path / "witness.sqlite3")
    s.add_log(LOG_VKEY)
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def witness(store: WitnessStore) -> Witness:
    return Witness(name="w.test", key=WITNESS_KEY, store=store, clock=lambda: 1_700_000_000)


def test_cosigns_a_first_checkpoint_then_each_consistent_extension(witness: Witness) -> None:
    policy = WitnessPolicy.of([witness.verifier_key], 1)
    for old, size in [(0, 3), (3, 7), (7, 7), (7, 32)]:
        lines = witness.add_checkpoint(request(old, size))
        cosignature = parse_cosignature_lines(lines)[0]
        assert cosignature.timestamp == 1_700_000_000
        note = parse_note(signed(size))
        assert policy.check(Note(note.text, (*note.signatures, cosignature.note_signature())))
    served = witness.checkpoint(ORIGIN)
    assert served is not None and policy.check(parse_note(served)) == ("w.test",)


def test_a_stale_old_size_is_409_with_the_latest_size(witness: Witness) -> None:
    witness.add_checkpoint(request(0, 5))
    with pytest.raises(OldSizeConflict) as caught:
        witness.add_checkpoint(request(3, 9))
    assert caught.value.latest_size == 5 and caught.value.http_status == 409


def test_a_fork_is_refused_422_and_kept_as_evidence(witness: Witness, store: WitnessStore) -> None:
    witness.add_checkpoint(request(0, 5))
    forked = [*LEAVES[:4], leaf_hash(b"rewritten"), *LEAVES[5:]]
    with pytest.raises(InconsistentCheckpoint) as caught:
        witness.add_checkpoint(request(5, 9, forked))
    assert caught.value.http_status == 422
    # Same size, another root: an equivocation the log signed.
    with pytest.raises(InconsistentCheckpoint, match="another root"):
        witness.add_checkpoint(request(5, 5, forked))
    kinds = [e.kind for e in store.evidence(ORIGIN)]
    assert kinds == ["fork", "equivocation"]
    assert store.latest(ORIGIN).size == 5  # nothing moved


def test_a_rolled_back_log_is_refused_and_kept_as_stale_evidence(
    witness: Witness, store: WitnessStore
) -> None:
    witness.add_checkpoint(request(0, 9))
    with pytest.raises(OldSizeConflict):
        witness.add_checkpoint(request(0, 4))
    assert [e.kind for e in store.evidence(ORIGIN)] == ["stale"]


@pytest.mark.parametrize(
    ("body", "error", "status"),
    [
        (b"garbage", BadWitnessRequest, 400),
        (request(0, 3).replace(b"old 0", b"old 4"), BadWitnessRequest, 400),
        (request(0, 3).replace(ORIGIN.encode(), b"other.log/x", 1), UnknownLog, 404),
        (
            request(0, 3, checkpoint=signed(3, key=Ed25519PrivateKey.generate())),
            NotSignedByLog,
            403,
        ),
    ],
)
def test_refusals_carry_the_spec_status(
    witness: Witness, body: bytes, error: type[Exception], status: int
) -> None:
    with pytest.raises(error) as caught:
        witness.add_checkpoint(body)
    assert caught.value.http_status == status  # type: ignore[attr-defined]


def test_a_proof_from_size_zero_or_a_bad_empty_root_is_422(witness: Witness) -> None:
    with_proof = AddCheckpointRequest(0, (LEAVES[0],), signed(3)).to_bytes()
    with pytest.raises(InconsistentCheckpoint, match="no consistency proof"):
        witness.add_checkpoint(with_proof)
    bad_empty = Checkpoint(ORIGIN, 0, LEAVES[0]).to_text()
    note = sign_note(bad_empty, name=ORIGIN, private_key=LOG_KEY).to_bytes()
    with pytest.raises(InconsistentCheckpoint, match="empty root"):
        witness.add_checkpoint(AddCheckpointRequest(0, (), note).to_bytes())
    empty = sign_note(Checkpoint(ORIGIN, 0, EMPTY_ROOT).to_text(), name=ORIGIN, private_key=LOG_KEY)
    witness.add_checkpoint(AddCheckpointRequest(0, (), empty.to_bytes()).to_bytes())


def test_the_latest_checkpoint_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "witness.sqlite3"
    store = WitnessStore(path=path)
    store.add_log(LOG_VKEY)
    Witness(name="w.test", key=WITNESS_KEY, store=store).add_checkpoint(request(0, 6))
    store.close()
    again = WitnessStore(path=path)
    try:
        assert again.latest(ORIGIN).size == 6
        with pytest.raises(OldSizeConflict):
            Witness(name="w.test", key=WITNESS_KEY, store=again).add_checkpoint(request(0, 8))
    finally:
        again.close()


def test_a_log_keeps_its_key(store: WitnessStore) -> None:
    assert store.add_log(LOG_VKEY) is False
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with pytest.raises(LogKeyConflict):
        store.add_log(verifier_key(ORIGIN, other))
