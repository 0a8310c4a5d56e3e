"""What a restore refuses in life data fetched from a DA layer; nothing is restored then."""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class LifeDataError(AnimaError):
    """Base of the life-data (DA) verification errors."""


class MalformedManifest(LifeDataError):
    """Not a manifest of a known version (truncated, not JSON, missing or extra fields)."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_MANIFEST"


class ManifestSignatureInvalid(LifeDataError):
    """The manifest is not signed by the agent's enclave key (the log key the owner knows)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MANIFEST_SIGNATURE_INVALID"


class ManifestForAnotherAgent(LifeDataError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MANIFEST_FOR_ANOTHER_AGENT"


class ManifestNotAnchored(LifeDataError):
    """The manifest is not the one anchored on chain: an older one (rolled back) or a fork."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MANIFEST_NOT_ANCHORED"


class ManifestDropsHistory(LifeDataError):
    """A successor manifest that does not extend its predecessor (chunks dropped, version
    or link wrong): published, it would cut off earlier history."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MANIFEST_DROPS_HISTORY"


class ChunkMissing(LifeDataError):
    kind = ErrorKind.NOT_FOUND
    reason = "LIFE_DATA_CHUNK_MISSING"


class ChunkCorrupt(LifeDataError):
    """The chunk's bytes do not hash to the id the signed manifest names."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "LIFE_DATA_CHUNK_CORRUPT"


class AnchorNotFound(LifeDataError):
    """The chain holds no anchor for the agent: nothing to restore against."""

    kind = ErrorKind.NOT_FOUND
    reason = "AGENT_ANCHOR_NOT_FOUND"


class AgentFenced(LifeDataError):
    """The anchor's recovery epoch is newer than this enclave's: the agent was recovered
    elsewhere, and this enclave must not sign for it any more."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "AGENT_FENCED"


class SignerStateStale(LifeDataError):
    """This signer's log is shorter than the anchored checkpoint: its state is older than
    what the agent already published (a restored old disk); restore before signing."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "SIGNER_STATE_STALE"
