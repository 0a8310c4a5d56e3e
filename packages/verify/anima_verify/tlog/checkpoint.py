"""C2SP tlog checkpoints (https://c2sp.org/tlog-checkpoint).

The body of a signed note: origin line, decimal tree size, base64 root hash,
then optional non-empty extension lines.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import MalformedCheckpoint
from anima_verify.tlog.merkle import HASH_SIZE
from anima_verify.tlog.note import Note, Verifier, open_note

_MAX_SIZE_DIGITS = len(str(1 << 64))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise MalformedCheckpoint("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpoint("checkpoint needs origin, size and root hash lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise MalformedCheckpoint("checkpoint origin is empty")
    if not size_text.isascii() or not size_text.isdigit():
        raise MalformedCheckpoint(f"checkpoint size {size_text!r} is not a decimal number")
    if len(size_text) > _MAX_SIZE_DIGITS:  # int() refuses very long strings with ValueError
        raise MalformedCheckpoint(f"checkpoint size has {len(size_text)} digits")
    if size_text != "0" and size_text.startswith("0"):
        raise MalformedCheckpoint(f"checkpoint size {size_text!r} has leading zeros")
    size = int(size_text)
    if size >= 1 << 64:
        raise MalformedCheckpoint("checkpoint size does not fit in 64 bits")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError as exc:  # binascii.Error, or a plain ValueError for non-ASCII text
        raise MalformedCheckpoint("checkpoint root hash is not valid base64") from exc
    if len(root) != HASH_SIZE:
        raise MalformedCheckpoint(f"checkpoint root hash is {len(root)} bytes, want {HASH_SIZE}")
    if any(not line for line in extensions):
        raise MalformedCheckpoint("checkpoint has an empty extension line")
    return Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note

    def to_bytes(self) -> bytes:
        return self.note.to_bytes()


def open_checkpoint(
    data: bytes, verifiers: Sequence[Verifier], *, witnesses: WitnessPolicy | None = None
) -> SignedCheckpoint:
    """Verify the note signature by one of `verifiers`, then parse the body; with
    `witnesses`, also require their quorum's cosignatures (WitnessQuorumNotMet).

    None checks no cosignature: only for callers that check witnesses elsewhere or
    that chose WitnessPolicy.insecure_unwitnessed (the `anima log` commands ask for one).
    """
    note = open_note(data, verifiers)
    signed = SignedCheckpoint(checkpoint=parse_checkpoint(note.text), note=note)
    if witnesses is not None:
        witnesses.check(note)
    return signed
