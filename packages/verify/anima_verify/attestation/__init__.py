"""Attestation: what an enclave proves about itself, and how a verifier decides to trust it.

Most callers need one function, `verify_evidence`, and one policy object,
`MeasurementPolicy`; the rest is here for tools (the CLI) and the sim backend.
"""

from __future__ import annotations

from anima_verify.attestation.errors import (
    AttestationError,
    CollateralExpired,
    InsecureEvidenceRefused,
    MalformedCollateral,
    MalformedMeasurementPolicy,
    MalformedQuote,
    MeasurementMismatch,
    QuoteVerificationFailed,
    ReportDataMismatch,
    TcbStatusRefused,
    UnsupportedEvidenceFormat,
    UnsupportedTcb,
    UntrustedAttestationKey,
)
from anima_verify.attestation.evidence import TEE_SIM, TEE_TDX, Evidence, bind_report_data
from anima_verify.attestation.policy import MeasurementPolicy, verify_evidence
from anima_verify.attestation.sim import make_sim_quote, verify_sim_quote
from anima_verify.attestation.tdx import (
    TdxQuoteFields,
    VerifiedQuote,
    collateral_validity_window,
    parse_tdx_quote,
    verify_tdx_quote,
)

__all__ = [
    "TEE_SIM",
    "TEE_TDX",
    "AttestationError",
    "CollateralExpired",
    "Evidence",
    "InsecureEvidenceRefused",
    "MalformedCollateral",
    "MalformedMeasurementPolicy",
    "MalformedQuote",
    "MeasurementMismatch",
    "MeasurementPolicy",
    "QuoteVerificationFailed",
    "ReportDataMismatch",
    "TcbStatusRefused",
    "TdxQuoteFields",
    "UnsupportedEvidenceFormat",
    "UnsupportedTcb",
    "UntrustedAttestationKey",
    "VerifiedQuote",
    "bind_report_data",
    "collateral_validity_window",
    "make_sim_quote",
    "parse_tdx_quote",
    "verify_evidence",
    "verify_sim_quote",
    "verify_tdx_quote",
]
