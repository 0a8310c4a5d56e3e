"""Anima's log entry: a versioned, canonical encoding of one thing an agent did.

The leaf commits to the payload's SHA-256 and size, not the payload: payloads
are stored beside the log and can be redacted without breaking any proof.

Encoding v1 is JSON with sorted keys, no whitespace, UTF-8, integers only (the
RFC 8785 form for these types). Decoding re-encodes and requires identical
bytes, so every entry has exactly one encoding and one leaf hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from anima_verify.agent_id import is_agent_id
from anima_verify.tlog.errors import MalformedEntry
from anima_verify.tlog.labels import ENCLAVE_ACTOR, check_host_actor, check_host_label

ENTRY_VERSION = 1
MAX_LABEL_CHARS = 256  # actor and room
MAX_ENTRY_BYTES = 2048
__all__ = [
    "ENCLAVE_ACTOR",
    "ENCLAVE_ONLY_KINDS",
    "ENTRY_VERSION",
    "MAX_ENTRY_BYTES",
    "MAX_LABEL_CHARS",
    "EntryKind",
    "LogEntry",
    "check_host_writable",
    "decode_entry",
]
_FIELDS = frozenset(
    {"v", "agent", "index", "time_ms", "kind", "actor", "room", "payload_sha256", "payload_size"}
)


_json_string = json.encoder.encode_basestring  # the escaping json.dumps(ensure_ascii=False) uses


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class EntryKind(StrEnum):
    MESSAGE_IN = "message_in"
    RESPONSE = "response"
    ACTION = "action"
    EVALUATOR = "evaluator"
    SIGNATURE = "signature"
    POLICY_DECISION = "policy_decision"
    LIFECYCLE = "lifecycle"


# Only the enclave writes entries of these kinds, or with its actor (ENCLAVE_ACTOR,
# or anything that reads like it: labels.py): the sequencer refuses them from the
# host, so a verifier can trust their origin.
ENCLAVE_ONLY_KINDS = frozenset({EntryKind.SIGNATURE, EntryKind.POLICY_DECISION})


def check_host_writable(kind: object, actor: object, room: object = "") -> None:
    """Refuse what only the enclave may write: the host's entries must not pass
    for signatures, policy decisions or anything under the enclave's actor, nor
    under a name that reads like it ("Signer", "signer" with a zero-width space,
    fullwidth letters). Actor and room must be visible NFKC text (labels.py)."""
    if not isinstance(kind, EntryKind):
        raise MalformedEntry(f"kind {kind!r} is not a log entry kind")
    if kind in ENCLAVE_ONLY_KINDS:
        raise MalformedEntry(f"kind {kind.value!r} is written by the signer only")
    check_host_actor(actor)
    check_host_label(room, "room")


@dataclass(frozen=True, slots=True)
class LogEntry:
    agent: str
    index: int
    time_ms: int
    kind: EntryKind
    actor: str
    room: str
    payload_sha256: bytes
    payload_size: int

    def __post_init__(self) -> None:
        if not is_agent_id(self.agent):
            raise MalformedEntry(f"agent {self.agent!r} is not a valid agent id")
        for name in ("index", "time_ms", "payload_size"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < 1 << 63:
                raise MalformedEntry(f"{name} must be a non-negative 63-bit integer")
        if not isinstance(self.kind, EntryKind):
            raise MalformedEntry(f"kind {self.kind!r} is unknown")
        for name in ("actor", "room"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS:
                raise MalformedEntry(
                    f"{name} must be a string of at most {MAX_LABEL_CHARS} characters"
                )
            if not value.isascii() and not _encodable(value):
                raise MalformedEntry(f"{name} is not valid Unicode (lone surrogate)")
        if not isinstance(self.payload_sha256, bytes) or len(self.payload_sha256) != 32:
            raise MalformedEntry("payload_sha256 must be 32 bytes")

    def encode(self) -> bytes:
        # Formatted by hand because this is on the signing path: 6x faster than
        # json.dumps, and byte-identical to it (sorted keys, compact separators,
        # ensure_ascii=False); only actor, agent and room can need escaping.
        return (
            f'{{"actor":{_json_string(self.actor)},"agent":{_json_string(self.agent)},'
            f'"index":{self.index},"kind":"{self.kind.value}",'
            f'"payload_sha256":"{self.payload_sha256.hex()}","payload_size":{self.payload_size},'
            f'"room":{_json_string(self.room)},"time_ms":{self.time_ms},"v":{ENTRY_VERSION}}}'
        ).encode()

    def matches_payload(self, payload: bytes) -> bool:
        return (
            len(payload) == self.payload_size
            and hashlib.sha256(payload).digest() == self.payload_sha256
        )


def decode_entry(data: bytes) -> LogEntry:
    """Parse an encoded entry; anything but the one canonical encoding is refused."""
    if len(data) > MAX_ENTRY_BYTES:
        raise MalformedEntry(f"entry is larger than {MAX_ENTRY_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEntry("entry is not UTF-8 JSON") from exc
    except RecursionError as exc:  # a few hundred nested brackets fit in MAX_ENTRY_BYTES
        raise MalformedEntry("entry is JSON nested too deeply") from exc
    if not isinstance(raw, dict) or set(raw) != _FIELDS:
        raise MalformedEntry(f"entry must have exactly the fields {sorted(_FIELDS)}")
    if raw["v"] != ENTRY_VERSION:
        raise MalformedEntry(f"entry version {raw['v']!r} is not {ENTRY_VERSION}")
    try:
        kind = EntryKind(raw["kind"])
        digest = bytes.fromhex(raw["payload_sha256"])
    except (ValueError, TypeError) as exc:
        raise MalformedEntry("entry kind or payload_sha256 is invalid") from exc
    entry = LogEntry(
        agent=raw["agent"],
        index=raw["index"],
        time_ms=raw["time_ms"],
        kind=kind,
        actor=raw["actor"],
        room=raw["room"],
        payload_sha256=digest,
        payload_size=raw["payload_size"],
    )
    if entry.encode() != data:
        raise MalformedEntry("entry is not in canonical form")
    return entry
