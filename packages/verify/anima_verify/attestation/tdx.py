"""Verify a raw Intel TDX quote against its collateral, and say what it proves.

The verifying core does no I/O: it takes the quote and collateral bytes and a
clock reading, and returns the verified facts (TCB status, measurements,
report_data) or raises the specific `AttestationError` that explains the
refusal. Policy (which measurements and TCB statuses are acceptable) lives in
`policy.py`; fetching collateral lives elsewhere.

Cryptography is dcap-qvl's (Intel's SGX root CA is built into it). Its errors
are plain `ValueError` strings, so `_classify` maps them onto our error family
once, here, and nowhere else.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dcap_qvl
from cryptography import x509

from anima_verify import jsonsafe
from anima_verify.attestation.errors import (
    AttestationError,
    CollateralExpired,
    MalformedCollateral,
    MalformedQuote,
    QuoteVerificationFailed,
    TcbStatusRefused,
    UnsupportedEvidenceFormat,
    UnsupportedTcb,
)
from anima_verify.attestation.evidence import REPORT_DATA_SIZE, TEE_TDX
from anima_verify.attestation.formats import identify_foreign_evidence

MEASUREMENT_SIZE = 48
TDX_TEE_TYPE = 0x81
SUPPORTED_TDX_QUOTE_VERSIONS = frozenset({4, 5})
MEASUREMENT_REGISTERS = ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3")


@dataclass(frozen=True, slots=True)
class VerifiedQuote:
    """What a verified quote (TDX or simulated) proves about the enclave that made it.

    `insecure` is True only for simulated quotes: they prove nothing about
    hardware and are accepted only where a policy explicitly allows them.
    """

    tee: str
    tcb_status: str
    advisory_ids: tuple[str, ...]
    mrtd: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes
    insecure: bool

    def __post_init__(self) -> None:
        for name in MEASUREMENT_REGISTERS:
            if len(getattr(self, name)) != MEASUREMENT_SIZE:
                raise ValueError(f"{name} must be {MEASUREMENT_SIZE} bytes")
        if len(self.report_data) != REPORT_DATA_SIZE:
            raise ValueError(f"report_data must be {REPORT_DATA_SIZE} bytes")

    def measurement(self, register: str) -> bytes:
        """The value of one register by name ("mrtd", "rtmr0".."rtmr3")."""
        if register not in MEASUREMENT_REGISTERS:
            raise ValueError(f"unknown measurement register {register!r}")
        value: bytes = getattr(self, register)
        return value


@dataclass(frozen=True, slots=True)
class TdxQuoteFields:
    """Fields decoded from a TDX quote WITHOUT verifying it: for diagnostics only."""

    version: int
    mrtd: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes


def parse_tdx_quote(quote: bytes) -> TdxQuoteFields:
    """Decode a TDX quote's header and TD report without checking any signature.

    Nothing returned here is trustworthy; use it to show an operator what a
    rejected quote claims, never to make a decision.
    """
    version, report = _decode(quote)
    return TdxQuoteFields(
        version=version,
        mrtd=bytes(report.mr_td),
        rtmr0=bytes(report.rt_mr0),
        rtmr1=bytes(report.rt_mr1),
        rtmr2=bytes(report.rt_mr2),
        rtmr3=bytes(report.rt_mr3),
        report_data=bytes(report.report_data),
    )


def verify_tdx_quote(
    quote: bytes, collateral_json: bytes | str, *, now: int | None = None
) -> VerifiedQuote:
    """Verify `quote` against `collateral_json` at time `now` (Unix seconds; default: the clock).

    Checks the quote's signature chain up to Intel's root, the collateral's
    signatures and validity window, and returns the TCB status and the
    measurements as verified facts. Applies no policy: an "OutOfDate" platform
    verifies here and is refused (or not) by `verify_evidence`. Refused here,
    because dcap-qvl refuses them itself: "Revoked" (TcbStatusRefused) and a TCB
    below every level of the collateral (UnsupportedTcb, a TcbStatusRefused).
    Evidence of another TEE (SGX, SEV-SNP, Nitro) is UnsupportedEvidenceFormat.
    """
    at = int(time.time()) if now is None else now
    if not 0 <= at < 2**64:
        raise ValueError("now must be a non-negative Unix time in seconds (below 2**64)")
    _, report = _decode(quote)
    collateral = _load_collateral(collateral_json)
    try:
        verified = dcap_qvl.verify(bytes(quote), collateral, at)
    except ValueError as exc:
        raise _classify(str(exc), now=at, window=_window_or_none(collateral)) from None
    return VerifiedQuote(
        tee=TEE_TDX,
        tcb_status=str(verified.status),
        advisory_ids=tuple(str(a) for a in verified.advisory_ids),
        mrtd=bytes(report.mr_td),
        rtmr0=bytes(report.rt_mr0),
        rtmr1=bytes(report.rt_mr1),
        rtmr2=bytes(report.rt_mr2),
        rtmr3=bytes(report.rt_mr3),
        report_data=bytes(report.report_data),
        insecure=False,
    )


def collateral_validity_window(collateral_json: bytes | str) -> tuple[int, int]:
    """The (not before, not after) Unix seconds in which every part of the collateral is current.

    The intersection of the TCB info and QE identity issueDate..nextUpdate and
    the CRLs' thisUpdate..nextUpdate. Certificates in the quote may narrow it
    further; dcap-qvl checks those too.
    """
    return _window(_load_collateral(collateral_json))


def _decode(quote: bytes) -> tuple[int, Any]:
    """Decode with dcap-qvl's own parser, so the fields we report are the ones it verified."""
    if not isinstance(quote, bytes | bytearray | memoryview):
        raise MalformedQuote(f"a quote must be bytes, not {type(quote).__name__}")
    raw = bytes(quote)
    foreign = identify_foreign_evidence(raw)
    if foreign is not None:
        hint = (
            "SGX quotes are not accepted as enclave evidence"
            if foreign.format == "sgx-quote"
            else "only Intel TDX quotes (raw binary, version 4 or 5) are verified here"
        )
        raise UnsupportedEvidenceFormat(
            f"this looks like {foreign.description}, not an Intel TDX quote; {hint}",
            format=foreign.format,
        )
    try:
        parsed = dcap_qvl.parse_quote(raw)
    except ValueError as exc:
        raise MalformedQuote(
            f"not a decodable TDX quote ({len(raw)} bytes): {_clean(str(exc))}; "
            f"expected the raw binary quote (v4 or v5){_text_hint(raw)}"
        ) from None
    version = int(parsed.header.version)
    tee_type = int(parsed.header.tee_type)
    if tee_type != TDX_TEE_TYPE or not parsed.is_tdx():
        raise MalformedQuote(
            f"not a TDX quote: TEE type {tee_type:#x} (TDX is {TDX_TEE_TYPE:#x}); "
            "SGX quotes are not accepted as enclave evidence"
        )
    if version not in SUPPORTED_TDX_QUOTE_VERSIONS:
        raise MalformedQuote(f"unsupported TDX quote version {version}; supported: 4, 5")
    return version, parsed.report


def _load_collateral(collateral_json: bytes | str) -> Any:
    """Parse collateral, telling "not JSON" apart from "JSON of the wrong shape"."""
    try:
        text = (
            collateral_json.decode("utf-8")
            if isinstance(collateral_json, bytes | bytearray)
            else collateral_json
        )
    except UnicodeDecodeError:
        raise MalformedCollateral("collateral is not UTF-8 text (expected JSON)") from None
    if not isinstance(text, str):
        raise MalformedCollateral(f"collateral must be JSON text, not {type(text).__name__}")
    try:
        # Depth-checked: a client that imports eth_account runs with a recursion limit
        # of 100000, where a deeply nested document overflows the C stack.
        document = jsonsafe.loads(text, what="collateral")
    except jsonsafe.TooDeep as exc:
        raise MalformedCollateral(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise MalformedCollateral(f"collateral is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedCollateral("collateral JSON must be an object")
    try:
        return dcap_qvl.QuoteCollateralV3.from_json(text)
    except ValueError as exc:
        raise MalformedCollateral(
            f"collateral JSON is not Intel DCAP collateral (QuoteCollateralV3): {_clean(str(exc))}"
        ) from None


# Fragments of dcap-qvl 0.7 error strings, lowercased, checked in this order.
# A TCB below every level its collateral lists: dcap-qvl matches levels (platform
# and TDX module in TCB info step 8, QE in step 6) only after the collateral's,
# PCK chain's and QE report's signatures verified, so these quotes are genuine.
_UNSUPPORTED_TCB_MARKERS = (
    # (marker, component, what to update)
    ("no matching tcb level found", "platform", "the platform's BIOS/microcode and TDX module"),
    ("tdx module isvsvn", "tdx-module", "the TDX module"),
    ("qe isvsvn", "qe", "the platform's DCAP quoting enclave (TD QE)"),
)
_TCB_WHAT = {
    "platform": "the platform's TCB (CPU and PCE SVNs in its PCK certificate, TDX SVNs in the "
    "quote) is below every TCB level in the collateral's TCB info",
    "tdx-module": "the TDX module's SVN is below every level of its module identity in the "
    "collateral's TCB info",
    "qe": "the quoting enclave's ISVSVN is below every level in the collateral's QE identity",
}
_TIME_MARKERS = (
    "expired",  # TCBInfo/QE Identity/Collateral expired, CrlExpired, CertExpired
    "in the future",  # "... issue date is in the future"
    "notvalidyet",
    "not valid yet",
    "not valid after",
)
_UNSUPPORTED_QUOTE_MARKERS = (
    "failed to decode quote",
    "unsupported dcap",
    "unsupported certification data type",
    "unsupported tee type",
    "unsupported cert type",
    "must have version",
)
_BAD_COLLATERAL_MARKERS = (
    "failed to decode tcbinfo",
    "failed to decode qeidentity",
    "failed to parse tcb info",
    "failed to parse qe identity",
    "should be valid json",
    "must be valid hex",
    "crl could not be parsed",
    "failed to parse crl",
)


def _classify(message: str, *, now: int, window: tuple[int, int] | None) -> AttestationError:
    """Turn a dcap-qvl failure message into the error that names its cause."""
    detail = _clean(message)
    lowered = detail.lower().replace("_", " ")
    if any(marker in lowered for marker in _TIME_MARKERS):
        return CollateralExpired(
            f"collateral or certificates are not valid at now={now} ({_iso(now)}): {detail}; "
            f"{_window_hint(window)}fetch fresh collateral for this quote from a PCCS, "
            "or verify with a `now` inside the window"
        )
    for marker, component, update in _UNSUPPORTED_TCB_MARKERS:
        if marker in lowered and (component == "platform" or "below minimum" in lowered):
            return UnsupportedTcb(
                f"TCB not supported (out of date): {_TCB_WHAT[component]}, so Intel gives it "
                f"no status at all, older than OutOfDate ({detail}); the signatures verified "
                f"before this check, so the quote is genuine, not altered: update {update}, "
                "then take a new quote with fresh collateral",
                component=component,
            )
    if "tcb status" in lowered:
        return TcbStatusRefused(f"the platform's TCB status is refused by the verifier: {detail}")
    if any(marker in lowered for marker in _UNSUPPORTED_QUOTE_MARKERS):
        return MalformedQuote(f"TDX quote uses an unsupported format: {detail}")
    if any(marker in lowered for marker in _BAD_COLLATERAL_MARKERS):
        return MalformedCollateral(f"collateral content cannot be decoded: {detail}")
    return QuoteVerificationFailed(
        f"TDX quote does not verify against Intel's root of trust: {detail}; the quote or "
        "its collateral was altered, or the collateral belongs to another platform"
    )


def _window(collateral: Any) -> tuple[int, int]:
    starts: list[int] = []
    ends: list[int] = []
    try:
        for signed_json in (collateral.tcb_info, collateral.qe_identity):
            body = jsonsafe.loads(signed_json, what="collateral")
            starts.append(_parse_rfc3339(body["issueDate"]))
            ends.append(_parse_rfc3339(body["nextUpdate"]))
        for der in (collateral.pck_crl, collateral.root_ca_crl):
            crl = x509.load_der_x509_crl(bytes(der))
            starts.append(int(crl.last_update_utc.timestamp()))
            if crl.next_update_utc is not None:
                ends.append(int(crl.next_update_utc.timestamp()))
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedCollateral(f"collateral dates cannot be read: {exc}") from None
    return max(starts), min(ends)


def _window_or_none(collateral: Any) -> tuple[int, int] | None:
    try:
        return _window(collateral)
    except MalformedCollateral:
        return None


def _window_hint(window: tuple[int, int] | None) -> str:
    if window is None:
        return ""
    return f"the collateral is current from {_iso(window[0])} to {_iso(window[1])}; "


def _parse_rfc3339(value: object) -> int:
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 date string, got {value!r}")
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(message: str) -> str:
    """One line: dcap-qvl's messages carry an anyhow-style "Caused by:" block."""
    text = " ".join(message.split())
    text = text.removeprefix("Verification failed: ").removeprefix("Failed to parse quote: ")
    return text.replace(" Caused by: ", ": ")


def _text_hint(raw: bytes) -> str:
    stripped = raw.strip()
    if stripped and all(c in b"0123456789abcdefABCDEF" for c in stripped):
        return "; this looks like hex text, decode it to bytes first"
    return ""
