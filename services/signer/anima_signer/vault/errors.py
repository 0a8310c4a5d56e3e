"""What the vault raises when a sealed blob cannot be opened.

Two families, because they call for different answers: a blob that is not a
sealed blob at all (truncated, wrong magic, unknown version: a parser's finding,
INVALID_ARGUMENT), and a well-formed blob that this enclave refuses to open (sealed
for another agent, purpose or context, under a key epoch it does not accept, or
altered: FAILED_PRECONDITION). Messages name what was wrong, never key material or
plaintext.
"""

from __future__ import annotations

from anima_signer_api.errors import SignerError
from anima_verify.errors import ErrorKind


class SealedBlobMalformed(SignerError):
    """The bytes do not parse as a sealed blob of a version this enclave knows."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "SEALED_BLOB_MALFORMED"


class SealedBlobRefused(SignerError):
    """A well-formed sealed blob this enclave will not open."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "SEALED_BLOB_REFUSED"


class SealedForAnotherAgent(SealedBlobRefused):
    """The header names another agent than the caller expects."""


class SealedForAnotherPurpose(SealedBlobRefused):
    """The header names another purpose than the caller expects."""


class SealedUnderUnacceptedEpoch(SealedBlobRefused):
    """The blob's key epoch is not one the caller accepts (a newer one, or a retired one)."""


class SealedBlobNotAuthentic(SealedBlobRefused):
    """Authentication failed: the blob was altered, or its associated context differs
    (moved to another row, object or version), or it was sealed by another enclave."""
