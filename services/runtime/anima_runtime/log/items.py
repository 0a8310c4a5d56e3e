"""What a caller logs: LogItem, checked before it joins a batch.

An item is validated on its own (labels in NFKC form, host-writable kind, payload
size, and an entry that fits), so one bad item cannot fail the group-committed
AppendLog it would share with other callers' items (log/service.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from anima_runtime.log.errors import InvalidLogRequest
from anima_signer_api.types import LogEntryInput
from anima_verify.tlog.entry import (
    MAX_ENTRY_BYTES,
    MAX_LABEL_CHARS,
    EntryKind,
    LogEntry,
    check_host_writable,
)
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.labels import normalize_label

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
_LARGEST_INT = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class LogItem:
    """One thing to log: the entry's fields and the payload stored beside the log."""

    kind: EntryKind
    actor: str
    room: str
    payload: bytes

    def to_input(self) -> LogEntryInput:
        """Validated here, so one bad item cannot fail the batch it would share. Actor
        and room are sent in NFKC form, which the enclave requires."""
        actor, room = _normalized(self.actor), _normalized(self.room)
        try:
            check_host_writable(self.kind, actor, room)
        except LogVerificationError as exc:
            message = exc.message
            if (actor, room) != (self.actor, self.room):
                message += f" (given as actor {self.actor!r}, room {self.room!r})"
            raise InvalidLogRequest(message) from exc
        if not isinstance(self.payload, bytes):
            raise InvalidLogRequest("payload must be bytes")
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            raise InvalidLogRequest(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes")
        digest = hashlib.sha256(self.payload).digest()
        if not _plain_label(actor) or not _plain_label(room):
            _check_encoding(dataclasses.replace(self, actor=actor, room=room), digest)
        return LogEntryInput(self.kind, actor, room, digest, len(self.payload))


def _normalized(label: str) -> str:
    """The label in NFKC form; a non-string as it is, for the checks to name."""
    return normalize_label(label) if isinstance(label, str) else label


def _plain_label(value: object) -> bool:
    """Printable ASCII without JSON escapes, short enough that any entry fits: the
    common case, checked without encoding a whole entry."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_LABEL_CHARS
        and value.isascii()
        and value.isprintable()
        and '"' not in value
        and "\\" not in value
    )


def _check_encoding(item: LogItem, digest: bytes) -> None:
    """Labels that need escaping: encode the widest entry they can be part of."""
    try:
        largest = LogEntry(
            agent="a" * 64,
            index=_LARGEST_INT,
            time_ms=_LARGEST_INT,
            kind=item.kind,
            actor=item.actor,
            room=item.room,
            payload_sha256=digest,
            payload_size=len(item.payload),
        ).encode()
    except LogVerificationError as exc:  # LogEntry checks lengths and Unicode
        raise InvalidLogRequest(f"actor or room is not valid: {exc}") from exc
    if len(largest) > MAX_ENTRY_BYTES:
        raise InvalidLogRequest(
            f"actor and room are too long: the entry would pass {MAX_ENTRY_BYTES} bytes"
        )


__all__ = ["MAX_PAYLOAD_BYTES", "LogItem"]
