"""Guardian escrow of agent roots: k-of-n shares, sealed per guardian, released only to
an attested enclave inside the agent's measurement policy. Pure: no I/O."""

from anima_verify.escrow.errors import (
    BelowThreshold,
    EscrowError,
    EscrowShareRefused,
    MalformedEscrowShare,
    MigrationRefused,
    RecoveredRootMismatch,
)
from anima_verify.escrow.release import combine_released, recovery_report_data, release_share
from anima_verify.escrow.shamir import Share, combine_shares, split_secret
from anima_verify.escrow.share import EscrowShare, open_as_guardian, seal_to_guardian

__all__ = [
    "BelowThreshold",
    "EscrowError",
    "EscrowShare",
    "EscrowShareRefused",
    "MalformedEscrowShare",
    "MigrationRefused",
    "RecoveredRootMismatch",
    "Share",
    "combine_released",
    "combine_shares",
    "open_as_guardian",
    "recovery_report_data",
    "release_share",
    "seal_to_guardian",
    "split_secret",
]
