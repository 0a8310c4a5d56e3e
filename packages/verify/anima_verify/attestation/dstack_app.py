"""A dstack app's identity: its compose hash, and the RTMR3 its boot records.

On Phala dstack an app is defined by `app-compose.json`. Its compose hash is
SHA-256 over the normalized JSON (dstack's docs/normalized-app-compose.md:
keys sorted, compact, NaN and Infinity as null, non-ASCII as UTF-8, not
escaped; a top-level field that is null is left out, as dstack's SDKs write an
AppCompose), and the guest's boot extends it into RTMR3 as the runtime event
"compose-hash", beside "app-id", "instance-id", the key provider and others.
Each runtime event's digest is SHA-384(event type as 4 little-endian bytes ||
":" || name || ":" || payload), and RTMR3 = SHA-384(RTMR3 || digest) from 48
zero bytes, in log order.

So a verifier that pins RTMR3 pins the compose (and with it every image digest
it names), the app and the instance. What lives here is pure: bytes in,
checked facts out (anima_verify.cli.attest_policy does the file work).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from anima_verify.attestation.errors import AttestationError
from anima_verify.errors import ErrorKind

__all__ = [
    "DSTACK_RUNTIME_EVENT_TYPE",
    "ComposeHashMismatch",
    "MalformedAppCompose",
    "MalformedEventLog",
    "RuntimeEvent",
    "check_event_log",
    "compose_hash",
    "normalized_app_compose",
    "parse_event_log",
    "replay_rtmr3",
    "runtime_event_digest",
]

DSTACK_RUNTIME_EVENT_TYPE: Final = 0x08000001
COMPOSE_HASH_EVENT: Final = "compose-hash"
_DIGEST_SIZE: Final = 48
_RTMR3: Final = 3


class MalformedAppCompose(AttestationError):
    """app-compose.json is not a JSON object (or repeats a key, which normalizing would hide)."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_APP_COMPOSE"


class MalformedEventLog(AttestationError):
    """The event log is not dstack's JSON, or an RTMR3 event's digest is not its own."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_EVENT_LOG"


class ComposeHashMismatch(AttestationError):
    """The instance booted another app-compose than the one given."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "COMPOSE_HASH_MISMATCH"


@dataclass(frozen=True, slots=True)
class RuntimeEvent:
    """One RTMR3 event of dstack's boot: name, payload, and the digest extended."""

    name: str
    payload: bytes
    digest: bytes


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        raise MalformedAppCompose(f"app-compose.json repeats the key(s) {duplicated}")
    return dict(pairs)


def _special_to_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _special_to_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_special_to_null(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def normalized_app_compose(document: bytes | str) -> bytes:
    """The bytes dstack hashes: the same JSON, keys sorted, compact, UTF-8."""
    try:
        # Python's parser accepts NaN and Infinity, as the rules expect.
        data = json.loads(document, object_pairs_hook=_no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedAppCompose(f"app-compose.json is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedAppCompose("app-compose.json must be a JSON object")
    # An AppCompose field that is null is absent (dstack's SDKs write it so).
    present = {key: value for key, value in data.items() if value is not None}
    text = json.dumps(
        _special_to_null(present), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return text.encode("utf-8")


def compose_hash(document: bytes | str) -> str:
    """dstack's compose hash of `document`, lowercase hex."""
    return hashlib.sha256(normalized_app_compose(document)).hexdigest()


def runtime_event_digest(name: str, payload: bytes) -> bytes:
    """The SHA-384 digest dstack extends into RTMR3 for one runtime event."""
    prefix = DSTACK_RUNTIME_EVENT_TYPE.to_bytes(4, "little")
    return hashlib.sha384(prefix + b":" + name.encode() + b":" + payload).digest()


def parse_event_log(document: bytes | str) -> list[RuntimeEvent]:
    """The RTMR3 events of a dstack event log (the guest agent's JSON list of
    {imr, event_type, digest, event, event_payload}), each digest recomputed."""
    try:
        entries = json.loads(document)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedEventLog(f"the event log is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise MalformedEventLog("the event log must be a JSON list of events")
    events = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("imr") != _RTMR3:
            continue  # RTMR0-2 are the firmware's and kernel's, pinned as values
        try:
            name, payload_hex, digest_hex = entry["event"], entry["event_payload"], entry["digest"]
            event_type = entry["event_type"]
            payload, digest = bytes.fromhex(payload_hex), bytes.fromhex(digest_hex)
        except (KeyError, TypeError, ValueError):
            raise MalformedEventLog(
                f"event {n}: needs event, event_type, hex event_payload and hex digest"
            ) from None
        if not isinstance(name, str) or event_type != DSTACK_RUNTIME_EVENT_TYPE:
            raise MalformedEventLog(f"event {n}: not a dstack runtime event")
        if digest != runtime_event_digest(name, payload):
            raise MalformedEventLog(f"event {n} ({name}): its digest is not its content's")
        events.append(RuntimeEvent(name=name, payload=payload, digest=digest))
    if not events:
        raise MalformedEventLog("the event log holds no RTMR3 events")
    return events


def replay_rtmr3(events: Sequence[RuntimeEvent]) -> bytes:
    register = bytes(_DIGEST_SIZE)
    for event in events:
        register = hashlib.sha384(register + event.digest).digest()
    return register


def check_event_log(events: Sequence[RuntimeEvent], *, expected_compose_hash: str) -> bytes:
    """RTMR3 of an instance that booted exactly the compose whose hash is given."""
    booted = [e for e in events if e.name == COMPOSE_HASH_EVENT]
    if len(booted) != 1:
        raise MalformedEventLog(
            f"the event log holds {len(booted)} compose-hash events; a boot records one"
        )
    if booted[0].payload.hex() != expected_compose_hash.lower():
        raise ComposeHashMismatch(
            f"the instance booted compose {booted[0].payload.hex()}, "
            f"not {expected_compose_hash.lower()}"
        )
    return replay_rtmr3(events)
