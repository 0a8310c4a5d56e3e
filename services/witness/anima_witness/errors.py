"""Why a witness refuses a checkpoint; each refusal carries the HTTP status C2SP
tlog-witness prescribes for it (the HTTP layer sends exactly that)."""

from __future__ import annotations

from typing import ClassVar

from anima_verify.errors import AnimaError, ErrorKind


class WitnessError(AnimaError):
    http_status: ClassVar[int] = 500


class BadWitnessRequest(WitnessError):
    """The body is not an add-checkpoint request, or its old size exceeds the checkpoint's."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "BAD_WITNESS_REQUEST"
    http_status = 400


class UnknownLog(WitnessError):
    """The witness does not know the checkpoint's origin."""

    kind = ErrorKind.NOT_FOUND
    reason = "UNKNOWN_LOG"
    http_status = 404


class NotSignedByLog(WitnessError):
    """No valid signature by the log's key (or a line claiming it that fails)."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "NOT_SIGNED_BY_LOG"
    http_status = 403


class OldSizeConflict(WitnessError):
    """The request's old size is not the size the witness last cosigned; `latest_size`
    goes back to the client (text/x.tlog.size) so it can retry from there."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "OLD_SIZE_CONFLICT"
    http_status = 409
    metadata_fields = ("latest_size",)

    def __init__(self, message: str, *, latest_size: int) -> None:
        super().__init__(message)
        self.latest_size = latest_size


class InconsistentCheckpoint(WitnessError):
    """The checkpoint does not extend the one cosigned before: a proof that fails,
    another root for the same size, a proof from size 0, a bad empty-tree root."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "INCONSISTENT_CHECKPOINT"
    http_status = 422


class LogKeyConflict(WitnessError):
    """A log registered again under its origin with a different key."""

    kind = ErrorKind.ALREADY_EXISTS
    reason = "LOG_KEY_CONFLICT"
    http_status = 409


class WitnessStateError(WitnessError):
    """The state directory is unusable (in use by another witness, unreadable key)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "WITNESS_STATE_UNUSABLE"
