"""Why a piece of attestation evidence was not trusted.

One class per reason, so a caller (or an operator reading a log) can tell a
garbled upload from a forged quote, stale collateral, an unpatched platform, a
different build or a replay, and knows what to do next. Every class is an
`AnimaError`; `kind` says how the transport reports it.
"""

from __future__ import annotations

from anima_verify.errors import AnimaError, ErrorKind


class AttestationError(AnimaError):
    """Base of every reason to refuse attestation evidence."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "ATTESTATION_REFUSED"


class MalformedQuote(AttestationError):
    """The quote cannot be decoded: truncated, garbage, or a version/type we do not support."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_QUOTE"


class UnsupportedEvidenceFormat(MalformedQuote):
    """Evidence of another TEE (an SGX quote, a SEV-SNP report, a Nitro document) where a
    TDX quote was expected. `format` names it: "sgx-quote", "sev-snp-report",
    "nitro-document" or "cose-sign1" (recognised by structure, not verified)."""

    def __init__(self, message: str, *, format: str) -> None:
        super().__init__(message)
        self.format = format


class MalformedCollateral(AttestationError):
    """The collateral is missing, not JSON, or not the shape of Intel's collateral."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_COLLATERAL"


class QuoteVerificationFailed(AttestationError):
    """The quote decodes but does not verify: bad signature, broken chain, tampered bytes."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "QUOTE_VERIFICATION_FAILED"


class UntrustedAttestationKey(QuoteVerificationFailed):
    """A simulated quote is correctly signed, but by a key the verifier does not trust."""

    reason = "UNTRUSTED_ATTESTATION_KEY"


class CollateralExpired(AttestationError):
    """`now` lies outside the validity window of the collateral (or of a certificate/CRL)."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "COLLATERAL_EXPIRED"


class TcbStatusRefused(AttestationError):
    """The platform's TCB status (e.g. OutOfDate, Revoked) is not one the policy accepts."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "TCB_STATUS_REFUSED"


class UnsupportedTcb(TcbStatusRefused):
    """A genuine quote whose TCB is below every level its collateral lists: Intel gives
    it no status at all (Intel's QVL says TCB_NOT_SUPPORTED), older than OutOfDate.

    `component` says which TCB: "platform" (CPU/PCE SVNs against the TCB info's
    levels), "tdx-module" (the TDX module's SVN) or "qe" (the quoting enclave's
    ISVSVN against the QE identity). The fix is an update of that component.
    """

    def __init__(self, message: str, *, component: str) -> None:
        super().__init__(message)
        self.component = component


class MeasurementMismatch(AttestationError):
    """A measurement register holds a value the policy does not allow."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "MEASUREMENT_MISMATCH"

    def __init__(self, *, register: str, got: bytes, allowed_count: int) -> None:
        if allowed_count == 0:
            detail = f"the policy allows no {register} value at all (deny by default)"
        else:
            detail = f"it is not among the {allowed_count} value(s) the policy allows"
        super().__init__(
            f"measurement {register} = {got.hex()}: {detail}; if this build is trusted, "
            f"add the value to the measurement policy's {register} list"
        )
        self.register = register
        self.got = got


class ReportDataMismatch(AttestationError):
    """report_data does not bind the expected keys and nonce: a replay or a different enclave."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "REPORT_DATA_MISMATCH"


class InsecureEvidenceRefused(AttestationError):
    """Simulated (software, development-only) evidence where the policy does not allow it."""

    kind = ErrorKind.PERMISSION_DENIED
    reason = "INSECURE_EVIDENCE_REFUSED"


class MalformedMeasurementPolicy(AttestationError):
    """A measurement policy document is not valid (bad JSON, unknown key, malformed hex)."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_MEASUREMENT_POLICY"
