"""The enclave's vault: envelope sealing of objects per agent, purpose and key epoch."""

from anima_signer.vault.blob import PURPOSE_RULE, SealedBlob, is_purpose, parse_sealed_blob
from anima_signer.vault.errors import (
    SealedBlobMalformed,
    SealedBlobNotAuthentic,
    SealedBlobRefused,
    SealedForAnotherAgent,
    SealedForAnotherPurpose,
    SealedUnderUnacceptedEpoch,
)
from anima_signer.vault.vault import Vault

__all__ = [
    "PURPOSE_RULE",
    "SealedBlob",
    "SealedBlobMalformed",
    "SealedBlobNotAuthentic",
    "SealedBlobRefused",
    "SealedForAnotherAgent",
    "SealedForAnotherPurpose",
    "SealedUnderUnacceptedEpoch",
    "Vault",
    "is_purpose",
    "parse_sealed_blob",
]
