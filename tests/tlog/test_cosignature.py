"""C2SP cosignature/v1: the signed message, the line's bytes, the witness key's
algorithm byte, the witness policy's quorum, and attacks on each."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.checkpoint import Checkpoint
from anima_verify.tlog.cosignature import (
    WitnessPolicy,
    add_cosignatures,
    cosign,
    cosigned_message,
    cosigner_verifier_key,
    parse_cosignature_lines,
    parse_cosigner_key,
)
from anima_verify.tlog.errors import (
    InvalidSignature,
    MalformedCosignature,
    WitnessQuorumNotMet,
)
from anima_verify.tlog.extension import consistency_proof_from_frontier
from anima_verify.tlog.merkle import CompactRange, leaf_hash, verify_consistency
from anima_verify.tlog.note import Note, NoteSignature, parse_note, sign_note, verifier_key

BODY = Checkpoint("example.com/log", 7, leaf_hash(b"x")).to_text()
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))
KEYS = [Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i in range(1, 4)]


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def vkey(i: int) -> str:
    return cosigner_verifier_key(f"w{i}.example", public(KEYS[i]))


def cosigned(*witnesses: int, timestamp: int = 1_700_000_000) -> Note:
    note = sign_note(BODY, name="example.com/log", private_key=LOG_KEY)
    lines = [
        cosign(BODY, name=f"w{i}.example", private_key=KEYS[i], timestamp=timestamp)
        for i in witnesses
    ]
    return add_cosignatures(note, lines)


def test_the_signed_message_and_line_follow_the_spec() -> None:
    assert (
        cosigned_message(BODY, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + BODY.encode()
    )
    line = cosign(BODY, name="w0.example", private_key=KEYS[0], timestamp=1679315147).line()
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(encoded)
    key_id = hashlib.sha256(b"w0.example\n\x04" + public(KEYS[0])).digest()[:4]
    assert name == "w0.example" and raw[:4] == key_id and len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    KEYS[0].public_key().verify(raw[12:], cosigned_message(BODY, 1679315147))


def test_a_witness_key_is_algorithm_4_and_never_a_log_key() -> None:
    assert parse_cosigner_key(vkey(0)).public_key == public(KEYS[0])
    with pytest.raises(MalformedCosignature, match="0x04"):
        parse_cosigner_key(verifier_key("w0.example", public(KEYS[0])))


def test_quorum_counts_distinct_valid_witnesses() -> None:
    policy = WitnessPolicy.of([vkey(0), vkey(1), vkey(2)], 2)
    assert policy.check(cosigned(0, 2)) == ("w0.example", "w2.example")
    with pytest.raises(WitnessQuorumNotMet) as caught:
        policy.check(cosigned(1, 1))  # one witness twice is one
    assert caught.value.cosigned_by == ("w1.example",)
    with pytest.raises(WitnessQuorumNotMet):
        policy.check(cosigned())


def test_a_cosignature_of_another_body_or_time_is_invalid() -> None:
    policy = WitnessPolicy.of([vkey(0)], 1)
    good = cosigned(0)
    moved = Note(BODY.replace("\n7\n", "\n8\n"), good.signatures)
    with pytest.raises(InvalidSignature):
        policy.check(moved)
    line = good.signatures[-1]
    later = (int.from_bytes(line.signature[:8], "big") + 1).to_bytes(8, "big")
    forged = NoteSignature(line.name, line.key_id, later + line.signature[8:])
    with pytest.raises(InvalidSignature):
        policy.check(Note(BODY, (*good.signatures[:-1], forged)))


def test_a_log_signature_is_not_a_cosignature() -> None:
    """The log's own line under the witness's name and key id: wrong length."""
    policy = WitnessPolicy.of([vkey(0)], 1)
    key = parse_cosigner_key(vkey(0))
    fake = NoteSignature(key.name, key.key_id, KEYS[0].sign(BODY.encode()))
    with pytest.raises(MalformedCosignature):
        policy.check(Note(BODY, (fake,)))


def test_the_insecure_policy_is_named_and_accepts_anything() -> None:
    policy = WitnessPolicy.insecure_unwitnessed()
    assert policy.insecure and policy.check(cosigned()) == ()
    with pytest.raises(ValueError, match="quorum"):
        WitnessPolicy.of([vkey(0)], 2)
    with pytest.raises(ValueError, match="quorum"):
        WitnessPolicy.of([vkey(0)], 0)


def test_response_lines_parse_and_round_trip() -> None:
    lines = [cosign(BODY, name=f"w{i}.example", private_key=KEYS[i], timestamp=5) for i in (0, 1)]
    data = "".join(c.line() for c in lines).encode()
    assert parse_cosignature_lines(data) == tuple(lines)
    for bad in (b"", b"\xff\n", data[:-1], data.replace(b"\xe2\x80\x94", b"-")):
        with pytest.raises(MalformedCosignature):
            parse_cosignature_lines(bad)
    assert parse_note(cosigned(0).to_bytes()).text == BODY


@pytest.mark.parametrize("old", [0, 1, 2, 3, 5, 8, 13, 31, 32, 33])
def test_a_proof_from_the_frontier_verifies(old: int) -> None:
    leaves = [leaf_hash(b"%d" % i) for i in range(70)]
    for new in range(old, 70, 7):
        start, end = CompactRange(), CompactRange()
        start.extend(leaves[:old])
        end.extend(leaves[:new])
        proof = consistency_proof_from_frontier(start, leaves[old:new])
        if old == 0:
            assert proof == []
            continue
        verify_consistency(size1=old, size2=new, root1=start.root(), root2=end.root(), proof=proof)
