"""What the fuzz tests feed and to which parser: each parser of untrusted log input
(signed notes, checkpoints, verifier keys, hash tiles, entry bundles, entries,
cosignatures, witness keys, witness requests and answers) and of untrusted chain
data (chain_targets.py) with the valid inputs that mutations start from.

The property is the same for all: on any bytes a parser returns or raises one of the
library's own errors (the LogVerificationError family; ChainProofError for the chain
parsers), never ValueError,
UnicodeError, RecursionError or anything else that would escape a caller's
`except LogVerificationError` (the `anima log` commands', the runtime's). Both the
hypothesis tests (test_parsers.py) and the long run (run.py) use these targets.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.chain.errors import ChainProofError
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from anima_verify.tlog.cosignature import (
    WitnessPolicy,
    cosign,
    cosigner_verifier_key,
    parse_cosignature_lines,
    parse_cosigner_key,
)
from anima_verify.tlog.entry import EntryKind, LogEntry, decode_entry
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.merkle import leaf_hash
from anima_verify.tlog.note import (
    open_note,
    parse_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)
from anima_verify.tlog.reader import read_entry_bundle, read_hash_tile
from anima_verify.tlog.tiles import (
    TILE_WIDTH,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    entries_path,
    tile_path,
)
from anima_verify.tlog.witness_protocol import (
    AddCheckpointRequest,
    parse_add_checkpoint_request,
    parse_size_body,
)
from tests.fuzz.chain_targets import chain_targets

#: The errors a parser may raise on bad input: each parser's own family.
ALLOWED = (LogVerificationError, ChainProofError)

ORIGIN = "fuzz.example/log"
_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VKEY = verifier_key(ORIGIN, _KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
VERIFIER = parse_verifier_key(VKEY)
_WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
WITNESS = "witness.example/w1"
WITNESS_VKEY = cosigner_verifier_key(
    WITNESS, _WITNESS_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
)
POLICY = WitnessPolicy.of([WITNESS_VKEY], 1)


def _text(data: bytes) -> str:
    """Bytes as a parser of text gets them: undecodable bytes become lone surrogates,
    as they do in a command line's arguments (surrogateescape)."""
    return data.decode("utf-8", "surrogateescape")


def _signed(text: str) -> bytes:
    return sign_note(text, name=ORIGIN, private_key=_KEY).to_bytes()


def _checkpoint_text(size: int, extensions: tuple[str, ...] = ()) -> str:
    root = leaf_hash(b"%d" % size)
    return Checkpoint(origin=ORIGIN, size=size, root_hash=root, extensions=extensions).to_text()


def _note(data: bytes) -> None:
    parse_note(data)
    open_note(data, [VERIFIER])


def _checkpoint(data: bytes) -> None:
    """The body alone (a mutated signature must not hide it), then the signed note."""
    text = _text(data)
    with contextlib.suppress(*ALLOWED):
        parse_checkpoint(text[: text.rfind("\n\n") + 1] or text)
    open_checkpoint(data, [VERIFIER])


def _verifier_key(data: bytes) -> None:
    parse_verifier_key(_text(data))


def _split_width(data: bytes) -> tuple[int, bytes]:
    """The first byte picks the tile's width (1..256), the rest is its content."""
    return (data[0] if data else 0) + 1, data[1:]


def _hash_tile(data: bytes) -> None:
    width, body = _split_width(data)
    decode_hash_tile(body, width)
    read_hash_tile(_Source({tile_path(0, 0, width): body}), 0, 0, width)


def _entry_bundle(data: bytes) -> None:
    width, body = _split_width(data)
    decode_entry_bundle(body, width)
    read_entry_bundle(_Source({entries_path(0, width): body}), 0, width)


def _entry(data: bytes) -> None:
    decode_entry(data)


def _cosignature(data: bytes) -> None:
    """A witness's answer, then the same lines judged as a cosigned note's by a policy."""
    with contextlib.suppress(ALLOWED):
        parse_cosignature_lines(data)
    note = parse_note(_signed(_checkpoint_text(5)) + data)
    POLICY.check(note)


def _witness_key(data: bytes) -> None:
    parse_cosigner_key(_text(data))


def _witness_request(data: bytes) -> None:
    """An add-checkpoint body (a witness's input), and a 409 size body (a log's)."""
    with contextlib.suppress(ALLOWED):
        parse_size_body(data)
    request = parse_add_checkpoint_request(data)
    open_checkpoint(request.checkpoint, [VERIFIER])


def _cosigned(size: int) -> bytes:
    text = _checkpoint_text(size)
    line = cosign(text, name=WITNESS, private_key=_WITNESS_KEY, timestamp=1_700_000_000)
    return line.line().encode()


def _request(old: int, size: int) -> bytes:
    proof = tuple(leaf_hash(b"%d" % i) for i in range(old.bit_length()))
    return AddCheckpointRequest(old, proof, _signed(_checkpoint_text(size))).to_bytes()


class _Source:
    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def read(self, path: str) -> bytes | None:
        return self._files.get(path)


def _entries() -> list[bytes]:
    return [
        LogEntry(
            agent="fuzz-agent",
            index=i,
            time_ms=1_700_000_000_000 + i,
            kind=kind,
            actor=actor,
            room=room,
            payload_sha256=leaf_hash(b"%d" % i),
            payload_size=i * 7,
        ).encode()
        for i, (kind, actor, room) in enumerate(
            [
                (EntryKind.MESSAGE_IN, "bob", "room-1"),
                (EntryKind.RESPONSE, "agent", "room-1"),
                (EntryKind.SIGNATURE, "signer", ""),
                (EntryKind.ACTION, "agent", 'r\\"\u00e9\u2014'),
            ]
        )
    ]


@dataclass(frozen=True)
class Target:
    name: str
    parse: Callable[[bytes], None]
    seeds: tuple[bytes, ...]


def targets() -> dict[str, Target]:
    entries = _entries()
    hashes = b"".join(leaf_hash(e) for e in entries)
    found = [
        Target(
            "note",
            _note,
            (
                _signed("hello\n"),
                _signed("two\nlines\n"),
                _signed(_checkpoint_text(5)),
                _signed("x\n") + "\u2014 other.example/key ".encode() + b"MTEx" * 23 + b"\n",
            ),
        ),
        Target(
            "checkpoint",
            _checkpoint,
            (
                _signed(_checkpoint_text(0)),
                _signed(_checkpoint_text(12345)),
                _signed(_checkpoint_text(1 << 40, ("extension line", "\u2014 more"))),
            ),
        ),
        Target("verifier_key", _verifier_key, (VKEY.encode(), (VKEY + "\n").encode())),
        Target(
            "hash_tile",
            _hash_tile,
            (
                bytes([len(entries) - 1]) + hashes,
                bytes([TILE_WIDTH - 1]) + leaf_hash(b"x") * TILE_WIDTH,
            ),
        ),
        Target(
            "entry_bundle",
            _entry_bundle,
            (
                bytes([len(entries) - 1]) + encode_entry_bundle(entries),
                b"\x00" + encode_entry_bundle([b""]),
            ),
        ),
        Target("entry", _entry, tuple(entries)),
        Target(
            "cosignature",
            _cosignature,
            (
                _cosigned(5),
                _cosigned(5) + "\u2014 other.example/w2 ".encode() + b"QUFB" * 25 + b"\n",
            ),
        ),
        Target(
            "witness_key", _witness_key, (WITNESS_VKEY.encode(), (WITNESS_VKEY + "\n").encode())
        ),
        Target(
            "witness_request",
            _witness_request,
            (_request(0, 5), _request(3, 12345), _request(1 << 40, 1 << 41)),
        ),
        *(Target(name, parse, seeds) for name, parse, seeds in chain_targets()),
    ]
    return {t.name: t for t in found}


# Bytes that parsers treat specially: separators, base64 and digits, and the
# non-ASCII and invisible characters that escaped them before.
TOKENS = (
    b"\n",
    b"\n\n",
    b" ",
    b"+",
    b"=",
    b"/",
    b"0",
    b"9" * 25,
    b"\\",
    b'"',
    b"{",
    b"[" * 1500,
    b"\x00",
    b"\xff",
    b"\x80",
    "\u2014 ".encode(),
    "\u00e9".encode(),
    "\ufeff".encode(),
    "\u200b".encode(),
    "\uff53".encode(),
    "\U0001f600".encode(),
    b"\xed\xa0\x80",  # an encoded surrogate: not UTF-8
)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: flip bits, insert or replace with tokens or random
    bytes, delete or duplicate a run, cut."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        op = rng.randrange(7)
        if op == 0 and out:
            at = min(at, len(out) - 1)
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at:at] = rng.choice(TOKENS)
        elif op == 2:
            end = min(len(out), at + rng.randint(1, 8))
            out[at:end] = rng.choice(TOKENS)
        elif op == 3:
            del out[at : at + rng.randint(1, 16)]
        elif op == 4:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif op == 5:
            run = out[at : at + rng.randint(1, 64)]
            out[at:at] = run * rng.randint(1, 4)
        else:
            del out[at:]
    return bytes(out)


def check(target: Target, data: bytes) -> None:
    """Run the parser; the library's own errors are the expected way to refuse."""
    with contextlib.suppress(*ALLOWED):
        target.parse(data)
