"""Why beacon light-client data was refused: one class per failure.

Verification failures are INVALID_ARGUMENT (the data was wrong, not us); a beacon
node that cannot be reached is UNAVAILABLE; a checkpoint too old for strict mode
and a state file that cannot be used are FAILED_PRECONDITION. Every refusal leaves
the light-client store as it was.
"""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class LightClientError(AnimaError):
    """Light-client data that does not verify against the store."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "LIGHT_CLIENT_VERIFICATION_FAILED"


class MalformedLightClientData(LightClientError):
    """Bytes or JSON that do not decode as the expected SSZ container."""

    reason = "MALFORMED_LIGHT_CLIENT_DATA"


class WrongForkDigest(LightClientError):
    """A fork digest (or consensus version) that names no fork of this chain, or
    another fork than the one the data's slot belongs to."""

    reason = "WRONG_FORK_DIGEST"


class BootstrapRootMismatch(LightClientError):
    """A bootstrap whose header is not the trusted block root."""

    reason = "BOOTSTRAP_ROOT_MISMATCH"


class InvalidLightClientHeader(LightClientError):
    """A header whose execution payload header is not proven by its body root,
    or that carries fields its fork cannot have."""

    reason = "INVALID_LIGHT_CLIENT_HEADER"


class TooFewParticipants(LightClientError):
    """A sync aggregate with fewer signers than MIN_SYNC_COMMITTEE_PARTICIPANTS."""

    reason = "TOO_FEW_SYNC_PARTICIPANTS"


class InvalidUpdateSlots(LightClientError):
    """Slots out of order: signature from the future, or not after the attested header,
    or a finalized header newer than the attested one."""

    reason = "INVALID_UPDATE_SLOTS"


class UpdatePeriodMismatch(LightClientError):
    """An update signed in a sync-committee period the store has no committee for."""

    reason = "UPDATE_PERIOD_MISMATCH"


class StaleUpdate(LightClientError):
    """An update no newer than the store's finalized header that brings nothing new."""

    reason = "STALE_LIGHT_CLIENT_UPDATE"


class InvalidFinalityBranch(LightClientError):
    """A finality branch that does not prove the finalized header in the attested state."""

    reason = "INVALID_FINALITY_BRANCH"


class InvalidSyncCommitteeBranch(LightClientError):
    """A sync-committee branch that does not prove the committee in the header's state."""

    reason = "INVALID_SYNC_COMMITTEE_BRANCH"


class SyncCommitteeMismatch(LightClientError):
    """A next sync committee other than the one the store already verified."""

    reason = "SYNC_COMMITTEE_MISMATCH"


class InvalidSyncSignature(LightClientError):
    """A sync-committee aggregate signature that does not verify (or a key that is not
    a valid BLS public key)."""

    reason = "INVALID_SYNC_COMMITTEE_SIGNATURE"


class BeaconApiUnavailable(AnimaError):
    """A beacon node that cannot be reached or answers with an HTTP error: an I/O
    failure, not evidence against the chain."""

    kind = ErrorKind.UNAVAILABLE
    reason = "BEACON_API_UNAVAILABLE"


class CheckpointTooOld(AnimaError):
    """Strict mode: the weak-subjectivity checkpoint is older than the allowed age."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "BEACON_CHECKPOINT_TOO_OLD"


class LightClientStateUnusable(AnimaError):
    """A persisted light-client state that cannot be read, or belongs to another chain."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "LIGHT_CLIENT_STATE_UNUSABLE"
