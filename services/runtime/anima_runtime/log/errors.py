"""Why the host's log storage or query refused: one class per failure.

`kind` maps to an HTTP status (and a gRPC code) in one table, anima_core.errors;
`reason` is sent in the HTTP error body. The reasons share the runtime's domain
(anima_runtime.errors.ERROR_DOMAIN).
"""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class LogError(AnimaError):
    """Base of the host log's errors."""


class InvalidLogRequest(LogError):
    """A caller's input is wrong: a bad range, size, filter or item."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_LOG_REQUEST"


class UnknownLog(LogError):
    """No log is open for this agent."""

    kind = ErrorKind.NOT_FOUND
    reason = "UNKNOWN_LOG"


class EntryNotFound(LogError):
    """The index is not covered by the current checkpoint, or has no payload stored."""

    kind = ErrorKind.NOT_FOUND
    reason = "ENTRY_NOT_FOUND"


class NoCheckpoint(LogError):
    """The log has no published checkpoint yet."""

    kind = ErrorKind.NOT_FOUND
    reason = "NO_CHECKPOINT"


class TileNotFound(LogError):
    """A tile path outside the current checkpoint, or not a tile path at all."""

    kind = ErrorKind.NOT_FOUND
    reason = "TILE_NOT_FOUND"


class PayloadRedacted(LogError):
    """The payload was deleted on purpose; the entry and its proofs remain."""

    kind = ErrorKind.NOT_FOUND
    reason = "PAYLOAD_REDACTED"


class PayloadMismatch(LogError):
    """A payload whose SHA-256 or size is not the one its entry commits to."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "PAYLOAD_MISMATCH"


class RedactionIncomplete(LogError):
    """A payload was deleted, but its bytes may remain in the index's write-ahead
    log: readers kept SQLite from emptying it. Retrying the redaction finishes it."""

    kind = ErrorKind.UNAVAILABLE
    reason = "REDACTION_INCOMPLETE"


class CheckpointRejected(LogError):
    """The signer's answer cannot be published: a bad signature, origin, size or
    root, or entries that are not what the host asked for. Host and enclave
    disagree about the log; nothing was published."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "CHECKPOINT_REJECTED"


class CorruptLog(LogError):
    """The stored log contradicts its own checkpoint (missing or malformed tiles)."""

    kind = ErrorKind.INTERNAL
    reason = "CORRUPT_LOG"


class LogLocked(LogError):
    """Another process has this log directory open for writing."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "LOG_LOCKED"


class SequencerFailed(LogError):
    """The enclave sequencer refused AppendLog or could not be reached."""

    kind = ErrorKind.UNAVAILABLE
    reason = "SEQUENCER_FAILED"
