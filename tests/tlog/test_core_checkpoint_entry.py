"""C2SP checkpoints and Anima's canonical log entry."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from anima_verify.tlog.entry import EntryKind, LogEntry, decode_entry
from anima_verify.tlog.errors import MalformedCheckpoint, MalformedEntry, UnknownKey
from anima_verify.tlog.note import parse_verifier_key, sign_note, verifier_key

ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_checkpoint_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint("anima.local/agents/a1", 42, ROOT, ("ext one", "ext two"))
    text = checkpoint.to_text()
    assert text == f"anima.local/agents/a1\n42\n{ROOT_B64}\next one\next two\n"
    assert parse_checkpoint(text) == checkpoint


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"o\n1\n{ROOT_B64}", "end with a newline"),
        ("o\n1\n", "needs origin, size and root"),
        (f"\n1\n{ROOT_B64}\n", "origin is empty"),
        (f"o\n01\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n-1\n{ROOT_B64}\n", "not a decimal number"),
        (f"o\n\u0661\n{ROOT_B64}\n", "not a decimal number"),
        (f"o\n{1 << 64}\n{ROOT_B64}\n", "64 bits"),
        ("o\n1\n!!!\n", "not valid base64"),
        (f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"o\n1\n{ROOT_B64}\n\n", "empty extension"),
        # Regressions: each escaped as a bare ValueError (non-ASCII given to base64;
        # int() refusing more than 4300 digits).
        (f"o\n1\n\u00e9{ROOT_B64[1:]}\n", "not valid base64"),
        (f"o\n1\n{ROOT_B64[:-2]}\uff1d\n", "not valid base64"),
        (f"o\n{'1' * 5000}\n{ROOT_B64}\n", "5000 digits"),
        (f"o\n{'9' * 21}\n{ROOT_B64}\n", "21 digits"),
    ],
)
def test_malformed_checkpoints_are_named(text: str, reason: str) -> None:
    with pytest.raises(MalformedCheckpoint, match=reason):
        parse_checkpoint(text)


def test_open_checkpoint_checks_the_signature_first() -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    origin = "anima.local/agents/a1"
    note = sign_note(Checkpoint(origin, 7, ROOT).to_text(), name=origin, private_key=private)
    signed = open_checkpoint(note.to_bytes(), [parse_verifier_key(verifier_key(origin, public))])
    assert signed.checkpoint.size == 7
    assert signed.to_bytes() == note.to_bytes()
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with pytest.raises(UnknownKey):
        open_checkpoint(note.to_bytes(), [parse_verifier_key(verifier_key(origin, other))])


ENTRY = LogEntry(
    agent="agent-1",
    index=12,
    time_ms=1_760_000_000_000,
    kind=EntryKind.MESSAGE_IN,
    actor="user:alice",
    room="room-\u00e9",
    payload_sha256=hashlib.sha256(b"hello").digest(),
    payload_size=5,
)


def test_entry_encoding_is_canonical_json() -> None:
    data = ENTRY.encode()
    raw = json.loads(data)
    assert (
        data == json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert raw["v"] == 1
    assert raw["payload_sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert "room-\u00e9".encode() in data
    assert decode_entry(data) == ENTRY
    assert ENTRY.matches_payload(b"hello")
    assert not ENTRY.matches_payload(b"hellO")


def _mutate(**changes: object) -> bytes:
    raw = json.loads(ENTRY.encode())
    raw.update(changes)
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (ENTRY.encode().replace(b",", b", ", 1), "not in canonical form"),
        (json.dumps(json.loads(ENTRY.encode()), separators=(",", ":")).encode(), "canonical"),
        (_mutate(extra=1), "exactly the fields"),
        (_mutate(v=2), "version 2"),
        (_mutate(kind="telepathy"), "kind or payload_sha256"),
        (_mutate(payload_sha256="zz"), "kind or payload_sha256"),
        (_mutate(payload_sha256="00"), "32 bytes"),
        (_mutate(index=1.5), "63-bit integer"),
        (_mutate(index=True), "63-bit integer"),
        (_mutate(index=-1), "63-bit integer"),
        (_mutate(agent="Bad Agent"), "valid agent id"),
        (_mutate(agent=123), "valid agent id"),
        (_mutate(agent=None), "valid agent id"),
        (_mutate(room="r" * 257), "at most 256"),
        (b"\xff", "not UTF-8 JSON"),
        (b"[]", "exactly the fields"),
        # Regression: nesting that fits in an entry's 2048 bytes overflowed json's stack
        # (RecursionError; under a raised recursion limit json reaches the end instead).
        (b"[" * 1500, "nested too deeply|not UTF-8 JSON"),
    ],
)
def test_non_canonical_or_invalid_entries_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedEntry, match=reason):
        decode_entry(data)


LABELS = [
    "",
    "plain",
    'quo"te',
    "back\\slash",
    "new\nline",
    "\x00\x1f\x7f",
    "\u00e9\u4e16\U0001f600",
    "\u2028\u2029",
    "</script>",
    "tab\there",
]


@pytest.mark.parametrize("label", LABELS)
def test_hand_formatted_encoding_equals_json_dumps(label: str) -> None:
    entry = LogEntry(
        agent="a_b-c",
        index=(1 << 63) - 1,
        time_ms=0,
        kind=EntryKind.EVALUATOR,
        actor=label,
        room=label[::-1],
        payload_sha256=bytes(range(32)),
        payload_size=0,
    )
    fields = {
        "v": 1,
        "agent": entry.agent,
        "index": entry.index,
        "time_ms": 0,
        "kind": "evaluator",
        "actor": label,
        "room": label[::-1],
        "payload_sha256": bytes(range(32)).hex(),
        "payload_size": 0,
    }
    expected = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.encode() == expected.encode()
    assert decode_entry(entry.encode()) == entry


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(MalformedEntry, match="lone surrogate"):
        LogEntry(
            agent="agent-1",
            index=0,
            time_ms=0,
            kind=EntryKind.ACTION,
            actor="\ud800",
            room="",
            payload_sha256=bytes(32),
            payload_size=0,
        )
