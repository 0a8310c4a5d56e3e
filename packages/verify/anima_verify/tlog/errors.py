"""Why a log, proof, note or tile failed to verify: one class per failure.

All are INVALID_ARGUMENT when they cross a service boundary: the input was
wrong, not the server.
"""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class LogVerificationError(AnimaError):
    kind = ErrorKind.INVALID_ARGUMENT
    reason = "LOG_VERIFICATION_FAILED"


class InvalidProof(LogVerificationError):
    """A proof with the wrong shape: wrong length, bad node size, impossible indices."""

    reason = "INVALID_PROOF"


class EmptyTreeConsistency(InvalidProof):
    """A consistency proof asked for, or offered, from the empty tree (size1 = 0).

    Every tree extends the empty one, so such a proof proves nothing and RFC 9162
    practice (transparency-dev/merkle) requires 0 < size1. A caller that holds a
    size-0 checkpoint compares its root with the empty tree's root instead.
    """


class RootMismatch(LogVerificationError):
    """A well-formed proof (or recomputed tree) that leads to another root."""

    reason = "ROOT_MISMATCH"


class TileMismatch(RootMismatch):
    """A stored hash tile that disagrees with the hashes recomputed from the entries.

    `path` is the tile's path in the tlog-tiles layout and `index` the position
    (0-based, in hashes) of the first hash that differs.
    """

    reason = "TILE_MISMATCH"

    def __init__(self, message: str, *, path: str, index: int) -> None:
        super().__init__(message)
        self.path = path
        self.index = index


class MalformedNote(LogVerificationError):
    """Text that is not a C2SP signed note."""

    reason = "MALFORMED_NOTE"


class UnknownKey(LogVerificationError):
    """A note with no signature from any of the verifier keys given."""

    reason = "UNKNOWN_NOTE_KEY"


class InvalidSignature(LogVerificationError):
    """A signature line from a known key that does not verify."""

    reason = "INVALID_NOTE_SIGNATURE"


class MalformedVerifierKey(LogVerificationError):
    """A verifier key string that is not name+keyid+base64(alg || key)."""

    reason = "MALFORMED_VERIFIER_KEY"


class MalformedCheckpoint(LogVerificationError):
    """A note body that is not a C2SP tlog checkpoint."""

    reason = "MALFORMED_CHECKPOINT"


class MalformedTile(LogVerificationError):
    """A hash tile or entry bundle with the wrong length or framing."""

    reason = "MALFORMED_TILE"


class MissingTile(LogVerificationError):
    """A tile or entry bundle the checkpoint needs is absent."""

    reason = "MISSING_TILE"


class MalformedEntry(LogVerificationError):
    """Bytes that are not a canonical Anima log entry."""

    reason = "MALFORMED_ENTRY"


class InconsistentLog(LogVerificationError):
    """Two checkpoints of one log that no append-only history can join."""

    reason = "INCONSISTENT_LOG"


class Equivocation(InconsistentLog):
    """Two signed checkpoints with the same size and different roots.

    Both signed notes are kept, as read, so the evidence can be shown to anyone.
    """

    reason = "EQUIVOCATION"

    def __init__(self, message: str, *, first_note: bytes = b"", second_note: bytes = b"") -> None:
        super().__init__(message)
        self.first_note = first_note
        self.second_note = second_note


class Rollback(LogVerificationError):
    """A checkpoint that should extend an earlier one is smaller: the log was served
    rolled back or truncated (or the two were given in the wrong order).

    `old_note` is the checkpoint seen before, `new_note` the one that should have
    extended it; both signed notes are kept, as read, as evidence.
    """

    reason = "LOG_ROLLBACK"

    def __init__(self, message: str, *, old_note: bytes = b"", new_note: bytes = b"") -> None:
        super().__init__(message)
        self.old_note = old_note
        self.new_note = new_note


class MalformedCosignature(LogVerificationError):
    """A signature line by a configured witness key that is not a C2SP cosignature/v1
    (key id, 8-byte timestamp, 64-byte Ed25519 signature), or a witness key string
    that is not a cosigner verifier key."""

    reason = "MALFORMED_COSIGNATURE"


class MalformedWitnessRequest(LogVerificationError):
    """An add-checkpoint request or response (C2SP tlog-witness) outside the grammar."""

    reason = "MALFORMED_WITNESS_REQUEST"


class WitnessQuorumNotMet(LogVerificationError):
    """A checkpoint without valid cosignatures from the witness policy's quorum.

    `cosigned_by` names the policy's witnesses whose cosignatures did verify.
    """

    reason = "WITNESS_QUORUM_NOT_MET"

    def __init__(self, message: str, *, cosigned_by: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.cosigned_by = cosigned_by
