"""C2SP cosignatures (https://c2sp.org/tlog-cosignature, Ed25519 cosignature/v1) and
the witness policy a verifier holds: which witnesses, and how many must have cosigned.

A cosignature is a signed-note signature line by a witness's key over

    cosignature/v1\\n
    time <POSIX seconds>\\n
    <the checkpoint body>

whose bytes are key id (4) || timestamp (8, big-endian) || Ed25519 signature (64).
The key id commits to algorithm byte 0x04, so a witness's verifier key is
`name+keyid+base64(0x04 || public key)` and can never be mistaken for a log's
(0x01) key. A cosignature says: as of that time, this is the largest tree the
witness has seen for the origin, consistent with everything it saw before.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.errors import (
    InvalidSignature,
    MalformedCosignature,
    MalformedNote,
    WitnessQuorumNotMet,
)
from anima_verify.tlog.note import (
    Note,
    NoteSignature,
    _decode_base64,
    _parse_signature_line,
    _valid_name,
)

COSIGNATURE_ALGORITHM = b"\x04"
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = (1 << 63) - 1
_SIGNATURE_BYTES = 8 + 64
MAX_COSIGNATURE_LINES = 100  # as a note's signatures: bounds the work of one response


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_ALGORITHM + public_key).digest()[:4]


def cosigner_verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string of a witness: `name+keyid+base64(0x04 || public key)`."""
    if not _valid_name(name):
        raise ValueError(f"witness name {name!r} must be non-empty, without spaces or '+'")
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    encoded = base64.b64encode(COSIGNATURE_ALGORITHM + public_key).decode()
    return f"{name}+{cosigner_key_id(name, public_key).hex()}+{encoded}"


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header, time line, then the checkpoint body."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One witness's cosignature line, parsed (not yet verified)."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def note_signature(self) -> NoteSignature:
        return NoteSignature(
            self.name, self.key_id, self.timestamp.to_bytes(8, "big") + self.signature
        )

    def line(self) -> str:
        return self.note_signature().line()


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A witness's public key under its name (one configured witness)."""

    name: str
    key_id: bytes
    public_key: bytes

    def verify(self, body: str, cosignature: Cosignature) -> bool:
        message = cosigned_message(body, cosignature.timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                cosignature.signature, message
            )
        except _CryptoInvalidSignature:
            return False
        return True

    def matches(self, signature: NoteSignature | Cosignature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def __str__(self) -> str:
        return cosigner_verifier_key(self.name, self.public_key)


def parse_cosigner_key(vkey: str) -> CosignerKey:
    """Parse a witness's verifier key; the algorithm byte must be 0x04 (cosignature/v1)."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedCosignature("a witness key is name+keyid+base64key")
    name, id_hex, encoded = parts
    if not _valid_name(name):
        raise MalformedCosignature(f"witness key name {name!r} is not a valid key name")
    try:
        kid = bytes.fromhex(id_hex)
        raw = _decode_base64(encoded)
    except ValueError as exc:
        raise MalformedCosignature("witness key id or key is not valid hex/base64") from exc
    if len(id_hex) != 8:
        raise MalformedCosignature("witness key id is 8 hex digits")
    if len(raw) != 33 or raw[:1] != COSIGNATURE_ALGORITHM:
        raise MalformedCosignature(
            "a witness key is an Ed25519 cosignature/v1 key (algorithm 0x04, 32 bytes)"
        )
    if cosigner_key_id(name, raw[1:]) != kid:
        raise MalformedCosignature(f"witness key id {id_hex} does not match the key")
    return CosignerKey(name=name, key_id=kid, public_key=raw[1:])


def parse_cosignature(signature: NoteSignature) -> Cosignature:
    """A note signature line as a cosignature/v1: 8-byte timestamp, 64-byte signature."""
    if len(signature.signature) != _SIGNATURE_BYTES:
        raise MalformedCosignature(
            f"cosignature by {signature.name} is {len(signature.signature) + 4} bytes, "
            f"want {_SIGNATURE_BYTES + 4} (key id, timestamp, Ed25519 signature)"
        )
    timestamp = int.from_bytes(signature.signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise MalformedCosignature(f"cosignature by {signature.name} has a timestamp above 2^63-1")
    return Cosignature(signature.name, signature.key_id, timestamp, signature.signature[8:])


def parse_cosignature_lines(data: bytes) -> tuple[Cosignature, ...]:
    """The body of a witness's add-checkpoint answer: one or more signature lines.

    Lines by any key are parsed as cosignatures (a caller keeps only its witnesses').
    """
    if len(data) > MAX_COSIGNATURE_LINES * 200:
        raise MalformedCosignature("the cosignature lines are too long")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedCosignature("the cosignature lines are not valid UTF-8") from exc
    if not text.endswith("\n"):
        raise MalformedCosignature("the cosignature lines must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) > MAX_COSIGNATURE_LINES:
        raise MalformedCosignature(f"more than {MAX_COSIGNATURE_LINES} cosignature lines")
    found: list[Cosignature] = []
    for number, line in enumerate(lines, start=1):
        try:
            signature = _parse_signature_line(line, number)
        except MalformedNote as exc:
            raise MalformedCosignature(exc.message) from exc
        found.append(parse_cosignature(signature))
    return tuple(found)


def cosign(body: str, *, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> Cosignature:
    """A witness's cosignature/v1 over a checkpoint body it has checked."""
    if not 0 < timestamp <= MAX_TIMESTAMP:
        raise ValueError("a cosignature's timestamp is a positive POSIX time")
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(cosigned_message(body, timestamp))
    return Cosignature(name, cosigner_key_id(name, public), timestamp, signature)


def add_cosignatures(note: Note, cosignatures: Iterable[Cosignature]) -> Note:
    """The note with the cosignature lines appended (any already there are kept once)."""
    lines = list(note.signatures)
    for cosignature in cosignatures:
        signature = cosignature.note_signature()
        if signature not in lines:
            lines.append(signature)
    return Note(text=note.text, signatures=tuple(lines))


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """Which witnesses a verifier trusts and how many of them must have cosigned.

    `quorum` 0 is the INSECURE policy that accepts unwitnessed checkpoints: a
    host that restores an older signer state can then show a forked log. Build it
    only through `insecure_unwitnessed`, so the choice is named where it is made.
    """

    witnesses: tuple[CosignerKey, ...]
    quorum: int

    def __post_init__(self) -> None:
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise ValueError("each witness appears once in a policy")
        if self.quorum < 0 or self.quorum > len(self.witnesses):
            raise ValueError(
                f"quorum {self.quorum} must be between 1 and the {len(self.witnesses)} witnesses"
            )
        if self.quorum == 0 and self.witnesses:
            raise ValueError("a policy with witnesses needs a quorum of at least 1")

    @classmethod
    def of(cls, vkeys: Sequence[str], quorum: int) -> WitnessPolicy:
        """From witness verifier keys (MalformedCosignature for a bad one)."""
        if not vkeys or quorum < 1:
            raise ValueError("a witness policy needs at least one witness and a quorum >= 1")
        return cls(tuple(parse_cosigner_key(k) for k in vkeys), quorum)

    @classmethod
    def insecure_unwitnessed(cls) -> WitnessPolicy:
        """INSECURE: accept checkpoints that no witness has cosigned."""
        return cls((), 0)

    @property
    def insecure(self) -> bool:
        return self.quorum == 0

    def check(self, note: Note) -> tuple[str, ...]:
        """The names of the policy's witnesses whose cosignatures on `note` verify.

        Raises WitnessQuorumNotMet below the quorum, InvalidSignature for a line by a
        policy witness (its name and key id) that does not verify, and
        MalformedCosignature for such a line that is not a cosignature. Lines by other
        keys are ignored, as the note spec asks.
        """
        verified: list[str] = []
        for witness in self.witnesses:
            for signature in note.signatures:
                if not witness.matches(signature):
                    continue
                if not witness.verify(note.text, parse_cosignature(signature)):
                    raise InvalidSignature(f"the cosignature by witness {witness.name} is invalid")
                if witness.name not in verified:
                    verified.append(witness.name)
        if len(verified) < self.quorum:
            named = ", ".join(verified) or "none of them"
            raise WitnessQuorumNotMet(
                f"the checkpoint carries valid cosignatures from {len(verified)} of the "
                f"{len(self.witnesses)} trusted witnesses ({named}); the policy needs "
                f"{self.quorum}",
                cosigned_by=tuple(verified),
            )
        return tuple(verified)
