"""C2SP signed notes (https://c2sp.org/signed-note), Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
`— <key name> <base64(key id || signature)>`. A verifier key is
`name+keyid+base64(0x01 || public key)`, keyid being the first four bytes of
SHA-256(name || "\\n" || 0x01 || public key). Parsing is strict, as in
golang.org/x/mod/sumdb/note: anything outside the grammar is MalformedNote.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.errors import (
    InvalidSignature,
    MalformedNote,
    MalformedVerifierKey,
    UnknownKey,
)

ED25519_ALGORITHM = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note: bounds verification work
MAX_NOTE_BYTES = 1 << 20


def _valid_name(name: str) -> bool:
    """Non-empty, no spaces or '+', and encodable (no lone surrogate, which a command
    line's undecodable bytes become)."""
    return bool(name) and not any(c.isspace() or c == "+" for c in name) and _encodable(name)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _decode_base64(text: str) -> bytes:
    """Strict base64; ValueError for anything else. (base64 raises a plain ValueError,
    not binascii.Error, for a str with non-ASCII characters: both are caught as one.)"""
    return base64.b64decode(text, validate=True)


def key_id(name: str, public_key: bytes) -> bytes:
    digest = hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + public_key).digest()
    return digest[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for an Ed25519 public key under a key name."""
    if not _valid_name(name):
        raise ValueError(f"note key name {name!r} must be non-empty, without spaces or '+'")
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    encoded = base64.b64encode(ED25519_ALGORITHM + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: bytes

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except _CryptoInvalidSignature:
            return False
        return True

    def __str__(self) -> str:
        return verifier_key(self.name, self.public_key)


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse `name+keyid+base64(0x01 || key)`; the key id must match the key."""
    parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise MalformedVerifierKey("a verifier key is name+keyid+base64key")
    name, id_hex, encoded = parts
    if not _valid_name(name):
        raise MalformedVerifierKey(f"verifier key name {name!r} is not a valid key name")
    try:
        kid = bytes.fromhex(id_hex)
        raw = _decode_base64(encoded)
    except ValueError as exc:
        raise MalformedVerifierKey("verifier key id or key is not valid hex/base64") from exc
    if len(id_hex) != 8:
        raise MalformedVerifierKey("verifier key id is 8 hex digits")
    if len(raw) != 33 or raw[:1] != ED25519_ALGORITHM:
        raise MalformedVerifierKey(
            "only Ed25519 verifier keys (algorithm 0x01, 32 bytes) are supported"
        )
    if key_id(name, raw[1:]) != kid:
        raise MalformedVerifierKey(f"verifier key id {id_hex} does not match the key")
    return Verifier(name=name, key_id=kid, public_key=raw[1:])


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()


def _check_characters(message: str) -> None:
    """No ASCII control characters but newline, anywhere in the note (as Go's note.Open)."""
    bad = next((c for c in message if ord(c) < 0x20 and c != "\n"), None)
    if bad is not None:
        raise MalformedNote(f"note contains the control character U+{ord(bad):04X}")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    _check_characters(text)


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines; checks syntax only."""
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedNote(f"note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        message = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote("note is not valid UTF-8") from exc
    _check_characters(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNote("note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block:
        raise MalformedNote("note has no signature lines")
    if not block.endswith("\n"):
        raise MalformedNote("signature block must end with a newline")
    signatures: list[NoteSignature] = []
    for number, line in enumerate(block[:-1].split("\n"), start=1):
        signatures.append(_parse_signature_line(line, number))
    if len(signatures) > MAX_SIGNATURES:
        raise MalformedNote(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text=text, signatures=tuple(signatures))


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNote(f"signature line {number} does not start with '— '")
    fields = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(fields) != 2 or not _valid_name(fields[0]):
        raise MalformedNote(f"signature line {number} is not '— <name> <base64>'")
    try:
        raw = _decode_base64(fields[1])
    except ValueError as exc:
        raise MalformedNote(f"signature line {number} is not valid base64") from exc
    if len(raw) < 5:
        raise MalformedNote(f"signature line {number} is too short")
    return NoteSignature(name=fields[0], key_id=raw[:4], signature=raw[4:])


def open_note(data: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a note and require a valid signature by at least one of `verifiers`.

    Signatures by other keys are ignored, as the spec asks; a signature that
    claims a known key (same name and key id) and does not verify is an error.
    Later lines by a key already seen are skipped, as golang.org/x/mod/sumdb/note does.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    seen: set[tuple[str, bytes]] = set()
    message = note.text.encode()
    for signature in note.signatures:
        ident = (signature.name, signature.key_id)
        verifier = known.get(ident)
        if verifier is None or ident in seen:
            continue
        seen.add(ident)
        if not verifier.verify(message, signature.signature):
            raise InvalidSignature(f"signature by {signature.name} does not verify")
    if not seen:
        names = ", ".join(sorted({v.name for v in verifiers})) or "no key"
        raise UnknownKey(f"note is not signed by any of the given keys ({names})")
    return note


def sign_note(text: str, *, name: str, private_key: Ed25519PrivateKey) -> Note:
    """A note with one Ed25519 signature over `text` under the key name."""
    _check_text(text)
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(text.encode())
    return Note(text=text, signatures=(NoteSignature(name, key_id(name, public), signature),))
