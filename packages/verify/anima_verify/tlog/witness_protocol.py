"""The wire format of C2SP tlog-witness (https://c2sp.org/tlog-witness): the
add-checkpoint request a log sends and the bodies a witness answers with.

A request body is `old <size>\\n`, up to 63 base64 consistency-proof hashes one
per line, an empty line, then the signed checkpoint note. A 200 answer is
cosignature lines (cosignature.parse_cosignature_lines); a 409 answer is the
witness's latest size in decimal and a newline, typed text/x.tlog.size.
Parsing here is syntax only: the witness checks signatures and proofs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from anima_verify.tlog.errors import MalformedWitnessRequest
from anima_verify.tlog.merkle import HASH_SIZE
from anima_verify.tlog.note import MAX_NOTE_BYTES, _decode_base64

ADD_CHECKPOINT_PATH = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
_MAX_SIZE_DIGITS = 20  # 2^64 has 20 digits
#: The largest request a witness needs to read: a note plus the header and proof.
MAX_REQUEST_BYTES = MAX_NOTE_BYTES + 32 + MAX_PROOF_LINES * 45


def _parse_size(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_SIZE_DIGITS:
        raise MalformedWitnessRequest(f"{what} {text[:40]!r} is not a decimal number")
    if text != "0" and text.startswith("0"):
        raise MalformedWitnessRequest(f"{what} {text!r} has leading zeros")
    size = int(text)
    if size >= 1 << 64:
        raise MalformedWitnessRequest(f"{what} does not fit in 64 bits")
    return size


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed note, as sent

    def to_bytes(self) -> bytes:
        lines = [f"old {self.old_size}\n"]
        lines += [base64.b64encode(node).decode() + "\n" for node in self.proof]
        return "".join(lines).encode() + b"\n" + self.checkpoint


def parse_add_checkpoint_request(body: bytes) -> AddCheckpointRequest:
    """Split a request body into old size, proof and checkpoint note (not yet opened)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise MalformedWitnessRequest(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    split = body.find(b"\n\n")
    if split < 0:
        raise MalformedWitnessRequest("the request has no empty line before the checkpoint")
    try:
        header = body[:split].decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedWitnessRequest("the old size and proof lines are not ASCII") from exc
    first, *proof_lines = header.split("\n")
    if not first.startswith("old "):
        raise MalformedWitnessRequest("the request does not start with 'old <size>'")
    old_size = _parse_size(first[4:], "old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedWitnessRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for number, line in enumerate(proof_lines, start=1):
        try:
            node = _decode_base64(line)
        except ValueError as exc:
            raise MalformedWitnessRequest(f"proof line {number} is not valid base64") from exc
        if len(node) != HASH_SIZE:
            raise MalformedWitnessRequest(f"proof line {number} is {len(node)} bytes, want 32")
        proof.append(node)
    checkpoint = body[split + 2 :]
    if not checkpoint:
        raise MalformedWitnessRequest("the request carries no checkpoint")
    return AddCheckpointRequest(old_size=old_size, proof=tuple(proof), checkpoint=checkpoint)


def size_body(size: int) -> bytes:
    """A 409 answer's body: the witness's latest size."""
    return f"{size}\n".encode()


def parse_size_body(body: bytes) -> int:
    """The witness's latest size from a 409 answer."""
    if len(body) > _MAX_SIZE_DIGITS + 1 or not body.endswith(b"\n"):
        raise MalformedWitnessRequest("a size answer is a decimal number and a newline")
    try:
        text = body[:-1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedWitnessRequest("a size answer is ASCII") from exc
    return _parse_size(text, "the witness's size")
