"""What escrow and recovery refuse: each names what was wrong, never a share or a root."""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class EscrowError(AnimaError):
    """Base of the escrow and recovery errors."""


class MalformedEscrowShare(EscrowError):
    """The bytes do not parse as an escrow share (or its sealed form) of a known version."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_ESCROW_SHARE"


class EscrowShareRefused(EscrowError):
    """A well-formed share that cannot be used here: sealed to another key, altered,
    for another agent, or from another escrow than the other shares."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ESCROW_SHARE_REFUSED"


class BelowThreshold(EscrowError):
    """Fewer distinct shares than the escrow's threshold: the root cannot be rebuilt."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "ESCROW_BELOW_THRESHOLD"

    def __init__(self, *, have: int, threshold: int) -> None:
        super().__init__(
            f"{have} distinct guardian share(s) released, the escrow needs {threshold}: "
            "ask more guardians; nothing was restored"
        )


class RecoveredRootMismatch(EscrowError):
    """The shares combine to a root that does not derive the agent's known identity key
    (a guardian released a wrong share, or the shares belong to another escrow)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "RECOVERED_ROOT_MISMATCH"


class MigrationRefused(EscrowError):
    """A peer migration step that cannot go ahead: a stale or foreign challenge, or an
    envelope that does not open here (sealed to another key, for another agent or
    challenge, altered) or does not carry the agent it claims."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MIGRATION_REFUSED"
