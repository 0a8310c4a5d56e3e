"""verify_tdx_quote against a real TDX quote and its collateral, and against damaged copies."""

from __future__ import annotations

import json

import dcap_qvl
import pytest

from anima_verify.attestation import (
    AttestationError,
    CollateralExpired,
    MalformedCollateral,
    MalformedQuote,
    QuoteVerificationFailed,
    VerifiedQuote,
    collateral_validity_window,
    parse_tdx_quote,
    verify_tdx_quote,
)
from anima_verify.attestation.tdx import _classify
from anima_verify.errors import AnimaError, ErrorKind

from .conftest import (
    BODY_MRTD,
    BODY_REPORT_DATA,
    FIXED_NOW,
    HEADER_SIZE,
    SIGNATURE_LEN_OFFSET,
    flip,
    independent_window,
    raw_fields,
)

DAY = 24 * 3600


def test_fixed_now_lies_inside_the_collateral_window(tdx_collateral: bytes) -> None:
    start, end = independent_window(tdx_collateral)
    assert (start, end) == (1750329147, 1752919235)  # 2025-06-19T10:32:27Z .. 07-19T10:00:35Z
    assert start < FIXED_NOW < end
    assert collateral_validity_window(tdx_collateral) == (start, end)


def test_real_quote_verifies_at_fixed_now(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    verified = verify_tdx_quote(tdx_quote, tdx_collateral, now=FIXED_NOW)

    assert verified.tee == "tdx"
    assert verified.tcb_status == "UpToDate"
    assert verified.advisory_ids == ()
    assert verified.insecure is False


def test_collateral_may_be_text_or_bytes(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    from_text = verify_tdx_quote(tdx_quote, tdx_collateral.decode(), now=FIXED_NOW)
    from_bytes = verify_tdx_quote(tdx_quote, tdx_collateral, now=FIXED_NOW)
    assert from_text == from_bytes


def test_raw_layout_is_a_v4_tdx_quote(tdx_quote: bytes) -> None:
    assert int.from_bytes(tdx_quote[0:2], "little") == 4  # version
    assert int.from_bytes(tdx_quote[2:4], "little") == 2  # ECDSA-256 with P-256
    assert int.from_bytes(tdx_quote[4:8], "little") == 0x81  # TDX
    signature_len = int.from_bytes(
        tdx_quote[SIGNATURE_LEN_OFFSET : SIGNATURE_LEN_OFFSET + 4], "little"
    )
    assert SIGNATURE_LEN_OFFSET + 4 + signature_len <= len(tdx_quote)


def test_offsets_agree_with_dcap_qvls_own_report(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    """Pins the offsets the other tests rely on to a second reading of the same quote."""
    collateral = dcap_qvl.QuoteCollateralV3.from_json(tdx_collateral.decode())
    report = json.loads(dcap_qvl.verify(tdx_quote, collateral, FIXED_NOW).to_json())["report"]
    td10 = report["TD10"]
    raw = raw_fields(tdx_quote)
    assert raw["mrtd"].hex() == td10["mr_td"]
    for i in range(4):
        assert raw[f"rtmr{i}"].hex() == td10[f"rt_mr{i}"]
    assert raw["report_data"].hex() == td10["report_data"]


def test_verified_fields_equal_the_raw_bytes(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    verified = verify_tdx_quote(tdx_quote, tdx_collateral, now=FIXED_NOW)
    raw = raw_fields(tdx_quote)

    assert verified.mrtd == raw["mrtd"]
    assert (verified.rtmr0, verified.rtmr1, verified.rtmr2, verified.rtmr3) == (
        raw["rtmr0"],
        raw["rtmr1"],
        raw["rtmr2"],
        raw["rtmr3"],
    )
    assert verified.report_data == raw["report_data"]
    assert len(verified.mrtd) == 48 and len(verified.report_data) == 64
    assert verified.measurement("rtmr2") == raw["rtmr2"]


def test_parse_without_verification_reads_the_same_fields(tdx_quote: bytes) -> None:
    parsed = parse_tdx_quote(tdx_quote)
    raw = raw_fields(tdx_quote)
    assert parsed.version == 4
    assert parsed.mrtd == raw["mrtd"]
    assert parsed.rtmr3 == raw["rtmr3"]
    assert parsed.report_data == raw["report_data"]


@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("header user data", 30),
        ("body: mrtd", HEADER_SIZE + BODY_MRTD),
        ("body: report_data", HEADER_SIZE + BODY_REPORT_DATA + 5),
        ("quote ECDSA signature", SIGNATURE_LEN_OFFSET + 4 + 3),
        ("attestation public key", SIGNATURE_LEN_OFFSET + 4 + 64 + 3),
        ("QE report", SIGNATURE_LEN_OFFSET + 4 + 128 + 20),
        ("QE report signature", SIGNATURE_LEN_OFFSET + 4 + 128 + 384 + 3),
    ],
)
def test_flipped_byte_is_rejected(
    tdx_quote: bytes, tdx_collateral: bytes, where: str, index: int
) -> None:
    with pytest.raises(QuoteVerificationFailed):
        verify_tdx_quote(flip(tdx_quote, index), tdx_collateral, now=FIXED_NOW)


@pytest.mark.parametrize("length", [0, 47, 100, 631, 1000])
def test_truncated_quote_is_malformed(tdx_quote: bytes, tdx_collateral: bytes, length: int) -> None:
    with pytest.raises(MalformedQuote, match="not a decodable TDX quote"):
        verify_tdx_quote(tdx_quote[:length], tdx_collateral, now=FIXED_NOW)


@pytest.mark.parametrize("garbage", [b"\xde\xad" * 600, b"\x00" * 5006, b"hello quote"])
def test_garbage_is_malformed(tdx_collateral: bytes, garbage: bytes) -> None:
    with pytest.raises(MalformedQuote):
        verify_tdx_quote(garbage, tdx_collateral, now=FIXED_NOW)


def test_hex_text_gets_a_hint(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    with pytest.raises(MalformedQuote, match="looks like hex text"):
        verify_tdx_quote(tdx_quote.hex().encode(), tdx_collateral, now=FIXED_NOW)


def test_wrong_tee_type_is_malformed(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    with pytest.raises(MalformedQuote):
        verify_tdx_quote(flip(tdx_quote, 4), tdx_collateral, now=FIXED_NOW)


@pytest.mark.parametrize("after", [1, DAY, 365 * DAY])
def test_expired_collateral_is_refused(tdx_quote: bytes, tdx_collateral: bytes, after: int) -> None:
    _, end = independent_window(tdx_collateral)
    with pytest.raises(CollateralExpired, match="fetch fresh collateral"):
        verify_tdx_quote(tdx_quote, tdx_collateral, now=end + after)


@pytest.mark.parametrize("before", [1, DAY, 365 * DAY])
def test_not_yet_valid_collateral_is_refused(
    tdx_quote: bytes, tdx_collateral: bytes, before: int
) -> None:
    start, _ = independent_window(tdx_collateral)
    with pytest.raises(CollateralExpired, match="2025-06-19T10:32:27Z"):
        verify_tdx_quote(tdx_quote, tdx_collateral, now=start - before)


def test_window_edges_verify(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    start, end = independent_window(tdx_collateral)
    assert verify_tdx_quote(tdx_quote, tdx_collateral, now=start).tcb_status == "UpToDate"
    assert verify_tdx_quote(tdx_quote, tdx_collateral, now=end - 1).tcb_status == "UpToDate"


def test_tampered_collateral_is_rejected(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    document = json.loads(tdx_collateral)
    tcb_info = json.loads(document["tcb_info"])
    tcb_info["tcbLevels"][0]["tcbStatus"] = "OutOfDate"
    document["tcb_info"] = json.dumps(tcb_info)
    with pytest.raises(QuoteVerificationFailed, match="tcb_info"):
        verify_tdx_quote(tdx_quote, json.dumps(document), now=FIXED_NOW)


@pytest.mark.parametrize(
    ("collateral", "match"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "must be an object"),
        (b"{}", "not Intel DCAP collateral"),
        # Regression: nesting this deep overflowed the C stack of a process that had
        # imported eth_account (recursion limit 100000) instead of being refused.
        (b"[" * 200_000 + b"]" * 200_000, "nested more than 64 levels"),
    ],
)
def test_unusable_collateral_is_malformed(tdx_quote: bytes, collateral: bytes, match: str) -> None:
    with pytest.raises(MalformedCollateral, match=match):
        verify_tdx_quote(tdx_quote, collateral, now=FIXED_NOW)


def test_negative_now_is_a_programming_error(tdx_quote: bytes, tdx_collateral: bytes) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        verify_tdx_quote(tdx_quote, tdx_collateral, now=-1)


def test_error_kinds_tell_bad_input_from_refusal() -> None:
    assert issubclass(AttestationError, AnimaError)
    assert MalformedQuote.kind is ErrorKind.INVALID_ARGUMENT
    assert MalformedCollateral.kind is ErrorKind.INVALID_ARGUMENT
    assert QuoteVerificationFailed.kind is ErrorKind.PERMISSION_DENIED
    assert CollateralExpired.kind is ErrorKind.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Verification failed: TCBInfo expired", "CollateralExpired"),
        ("Verification failed: QE Identity issue date is in the future", "CollateralExpired"),
        (
            "Verification failed: Failed to verify certificate chain\n\nCaused by:\n"
            "    CrlExpired { time: UnixTime(1), next_update: UnixTime(0) }",
            "CollateralExpired",
        ),
        ("Verification failed: TCB status is invalid: Revoked", "TcbStatusRefused"),
        ("Verification failed: Unsupported DCAP attestation key type", "MalformedQuote"),
        ("Verification failed: Failed to decode TcbInfo", "MalformedCollateral"),
        ("Verification failed: QE report hash mismatch", "QuoteVerificationFailed"),
        ("Verification failed: Fmspc mismatch", "QuoteVerificationFailed"),
        ("something dcap-qvl never said before", "QuoteVerificationFailed"),
    ],
)
def test_dcap_qvl_messages_map_to_specific_errors(message: str, expected: str) -> None:
    """Messages as dcap-qvl 0.7 words them; anything unknown fails closed as a refusal."""
    error = _classify(message, now=FIXED_NOW, window=None)
    assert type(error).__name__ == expected
    assert "\n" not in error.message


def test_verified_quote_rejects_wrong_sizes() -> None:
    good = {f"rtmr{i}": bytes(48) for i in range(4)}
    with pytest.raises(ValueError, match="mrtd"):
        VerifiedQuote(
            tee="tdx",
            tcb_status="UpToDate",
            advisory_ids=(),
            mrtd=bytes(47),
            report_data=bytes(64),
            insecure=False,
            **good,
        )
