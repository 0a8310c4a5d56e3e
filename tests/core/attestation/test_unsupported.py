"""Genuine quotes whose TCB is below every level of their collateral, and evidence of
other TEEs: each named for what it is, not as "the quote or its collateral was altered".

The TCB cases run dcap-qvl's real verification on the real quote, with its collateral
re-issued under a test root (see resigned.py) so that the TCB levels can be raised.
The other-TEE inputs are synthetic: built here with the shape of each format, with
zeroed fields and signatures, clearly not real evidence.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import dcap_qvl
import pytest

from anima_verify.attestation import (
    MalformedQuote,
    QuoteVerificationFailed,
    TcbStatusRefused,
    UnsupportedEvidenceFormat,
    UnsupportedTcb,
    verify_tdx_quote,
)
from anima_verify.attestation.formats import identify_foreign_evidence
from anima_verify.attestation.tdx import _classify

from .conftest import FIXED_NOW, flip
from .resigned import TestPki
from .test_cli_attest import run_handler


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture
def test_root(pki: TestPki, monkeypatch: pytest.MonkeyPatch) -> TestPki:
    """verify_tdx_quote's dcap-qvl call, with the test root in place of Intel's."""
    monkeypatch.setattr(dcap_qvl, "verify", pki.verify)
    return pki


def _raise_platform_levels(tcb_info: dict[str, Any]) -> None:
    # Every level wants a PCE SVN and SGX component SVNs no platform has yet.
    for level in tcb_info["tcbLevels"]:
        level["tcb"]["pcesvn"] = 65535
        for component in level["tcb"]["sgxtcbcomponents"]:
            component["svn"] = 255


def _raise_module_levels(tcb_info: dict[str, Any]) -> None:
    for identity in tcb_info["tdxModuleIdentities"]:
        for level in identity["tcbLevels"]:
            level["tcb"]["isvsvn"] = 255


def _raise_qe_levels(qe_identity: dict[str, Any]) -> None:
    for level in qe_identity["tcbLevels"]:
        level["tcb"]["isvsvn"] = 255


# ---------------------------------------------------------------- TCB below every level


def test_the_resigned_collateral_verifies_as_is(
    test_root: TestPki, tdx_quote: bytes, tdx_collateral: bytes
) -> None:
    """The test PKI is faithful: unedited, the re-issued collateral verifies the real quote."""
    collateral = test_root.resign(tdx_quote, tdx_collateral)
    assert verify_tdx_quote(tdx_quote, collateral, now=FIXED_NOW).tcb_status == "UpToDate"


def test_the_resigned_collateral_is_not_trusted_under_intels_root(
    pki: TestPki, tdx_quote: bytes, tdx_collateral: bytes
) -> None:
    collateral = pki.resign(tdx_quote, tdx_collateral, edit_tcb_info=_raise_platform_levels)
    with pytest.raises(QuoteVerificationFailed):
        verify_tdx_quote(tdx_quote, collateral, now=FIXED_NOW)


@pytest.mark.parametrize(
    ("edits", "component", "detail"),
    [
        ({"edit_tcb_info": _raise_platform_levels}, "platform", "No matching TCB level found"),
        (
            {"edit_tcb_info": _raise_module_levels},
            "tdx-module",
            "TDX module ISVSVN 6 is below minimum required",
        ),
        ({"edit_qe_identity": _raise_qe_levels}, "qe", "QE ISVSVN 6 is below minimum required"),
    ],
)
def test_a_tcb_below_every_level_is_unsupported_not_altered(
    test_root: TestPki,
    tdx_quote: bytes,
    tdx_collateral: bytes,
    edits: dict[str, Any],
    component: str,
    detail: str,
) -> None:
    """Regression: these said "the quote or its collateral was altered"."""
    collateral = test_root.resign(tdx_quote, tdx_collateral, **edits)
    with pytest.raises(UnsupportedTcb) as caught:
        verify_tdx_quote(tdx_quote, collateral, now=FIXED_NOW)
    error = caught.value
    assert isinstance(error, TcbStatusRefused)
    assert error.component == component
    assert detail in error.message  # dcap-qvl's own words, as it says them today
    assert "TCB not supported (out of date)" in error.message
    assert "not altered" in error.message and "was altered" not in error.message
    assert "\n" not in error.message


def test_the_cli_reports_an_unsupported_tcb(
    test_root: TestPki,
    tdx_quote: bytes,
    tdx_collateral: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    quote, collateral = tmp_path / "quote.bin", tmp_path / "collateral.json"
    quote.write_bytes(tdx_quote)
    collateral.write_text(
        test_root.resign(tdx_quote, tdx_collateral, edit_tcb_info=_raise_platform_levels)
    )
    argv = ["attest", "verify", str(quote), "--collateral", str(collateral)]
    assert run_handler([*argv, "--now", str(FIXED_NOW), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["error"] == "UnsupportedTcb"
    assert "update the platform's BIOS/microcode and TDX module" in report["reason"]


@pytest.mark.parametrize(
    ("message", "component"),
    [
        # Captured from dcap-qvl 0.7.0 by the tests above.
        ("Verification failed: No matching TCB level found", "platform"),
        (
            "Verification failed: TDX module TCB level check\n\nCaused by:\n    TDX module "
            "ISVSVN 6 is below minimum required from TDX module TCB levels",
            "tdx-module",
        ),
        (
            "Verification failed: QE ISVSVN 6 is below minimum required 255 from QE Identity",
            "qe",
        ),
    ],
)
def test_dcap_qvl_tcb_messages_map_to_unsupported_tcb(message: str, component: str) -> None:
    error = _classify(message, now=FIXED_NOW, window=None)
    assert isinstance(error, UnsupportedTcb) and error.component == component


def test_other_module_failures_are_not_an_unsupported_tcb() -> None:
    message = "Verification failed: TDX module TCB level check\n\nCaused by:\n    TDX module "
    error = _classify(message + "MRSIGNER mismatch: expected 00, got 01", now=0, window=None)
    assert type(error) is QuoteVerificationFailed


# ---------------------------------------------------------------- other TEEs' evidence


def _dcap_header(version: int, tee_type: int) -> bytes:
    """A DCAP quote header (version, ECDSA P-256 key type, TEE type), the rest zero."""
    return struct.pack("<HHI", version, 2, tee_type) + bytes(40)


def _sev_snp_report(version: int) -> bytes:
    report = bytearray(1184)
    struct.pack_into("<I", report, 0x00, version)
    struct.pack_into("<I", report, 0x34, 1)  # SIGNATURE_ALGO: ECDSA P-384 with SHA-384
    return bytes(report)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 256:
        return bytes([major << 5 | 24, length])
    return bytes([major << 5 | 25]) + length.to_bytes(2, "big")


def _cbor_bytes(data: bytes) -> bytes:
    return _cbor_head(2, len(data)) + data


def _cbor_text(text: str) -> bytes:
    return _cbor_head(3, len(text)) + text.encode()


def _cose_sign1(payload: dict[str, bytes], *, tagged: bool) -> bytes:
    """[protected {1: -35 (ES384)}, {}, payload map (text keys -> encoded values), signature]."""
    body = _cbor_head(5, len(payload)) + b"".join(
        _cbor_text(key) + value for key, value in payload.items()
    )
    document = (
        bytes([0x84])
        + _cbor_bytes(b"\xa1\x01\x38\x22")
        + b"\xa0"
        + _cbor_bytes(body)
        + _cbor_bytes(bytes(96))
    )
    return b"\xd2" + document if tagged else document


_NITRO_PAYLOAD = {
    "module_id": _cbor_text("i-0000000000000000-enc0000000000000000"),
    "digest": _cbor_text("SHA384"),
    "pcrs": _cbor_head(5, 1) + b"\x00" + _cbor_bytes(bytes(48)),
}


@pytest.mark.parametrize(
    ("evidence", "format", "named"),
    [
        (_dcap_header(3, 0) + bytes(384 + 4), "sgx-quote", "an Intel SGX quote (version 3"),
        (_dcap_header(4, 0) + bytes(384 + 4), "sgx-quote", "an Intel SGX quote (version 4"),
        (_sev_snp_report(2), "sev-snp-report", "an AMD SEV-SNP attestation report (1184 bytes"),
        (
            _sev_snp_report(5),
            "sev-snp-report",
            "an AMD SEV-SNP attestation report (1184 bytes, version 5)",
        ),
        (
            _cose_sign1(_NITRO_PAYLOAD, tagged=False),
            "nitro-document",
            "an AWS Nitro Enclaves attestation document",
        ),
        (
            _cose_sign1(_NITRO_PAYLOAD, tagged=True),
            "nitro-document",
            "an AWS Nitro Enclaves attestation document",
        ),
        (
            _cose_sign1({"hello": _cbor_text("world")}, tagged=False),
            "cose-sign1",
            "a CBOR COSE_Sign1 document",
        ),
    ],
    ids=["sgx-v3", "sgx-v4", "sev-snp-v2", "sev-snp-v5", "nitro", "nitro-tagged", "cose"],
)
def test_other_tees_evidence_is_named(
    tdx_collateral: bytes, evidence: bytes, format: str, named: str
) -> None:
    with pytest.raises(UnsupportedEvidenceFormat) as caught:
        verify_tdx_quote(evidence, tdx_collateral, now=FIXED_NOW)
    assert isinstance(caught.value, MalformedQuote)
    assert caught.value.format == format
    assert f"this looks like {named}" in caught.value.message
    assert "not an Intel TDX quote" in caught.value.message


@pytest.mark.parametrize(
    "evidence",
    [
        _sev_snp_report(1),  # SEV (not SNP) versions are not this layout
        _sev_snp_report(2)[:-1],  # one byte short
        _sev_snp_report(2) + b"\x00",
        _dcap_header(4, 0x80) + bytes(388),  # neither SGX nor TDX
        b"\x84\x01\x02\x03\x04",  # an array of four, but no protected header
        b"\xd2",
        b"",
    ],
    ids=["sev-v1", "short", "long", "tee-0x80", "no-header", "tag-only", "empty"],
)
def test_near_misses_are_not_named(evidence: bytes) -> None:
    assert identify_foreign_evidence(evidence) is None


def test_a_tdx_quote_is_not_foreign_and_still_verifies(
    tdx_quote: bytes, tdx_collateral: bytes
) -> None:
    assert identify_foreign_evidence(tdx_quote) is None
    assert verify_tdx_quote(tdx_quote, tdx_collateral, now=FIXED_NOW).tee == "tdx"
    # A TEE type that is neither SGX's nor TDX's stays a plain malformed quote.
    with pytest.raises(MalformedQuote) as caught:
        verify_tdx_quote(flip(tdx_quote, 4), tdx_collateral, now=FIXED_NOW)
    assert not isinstance(caught.value, UnsupportedEvidenceFormat)


def test_the_cli_names_a_sev_snp_report(
    tdx_collateral: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = tmp_path / "report.bin", tmp_path / "collateral.json"
    quote.write_bytes(_sev_snp_report(3))
    collateral.write_bytes(tdx_collateral)
    assert run_handler(["attest", "verify", str(quote), "--collateral", str(collateral)]) == 1
    assert (
        "this looks like an AMD SEV-SNP attestation report (1184 bytes, version 3), "
        "not an Intel TDX quote" in capsys.readouterr().err
    )
