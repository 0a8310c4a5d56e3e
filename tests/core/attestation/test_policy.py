"""MeasurementPolicy and verify_evidence: deny by default, and the most specific reason wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.attestation import (
    CollateralExpired,
    Evidence,
    InsecureEvidenceRefused,
    MalformedCollateral,
    MalformedMeasurementPolicy,
    MalformedQuote,
    MeasurementMismatch,
    MeasurementPolicy,
    QuoteVerificationFailed,
    ReportDataMismatch,
    TcbStatusRefused,
    UntrustedAttestationKey,
    bind_report_data,
    make_sim_quote,
    verify_evidence,
)
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.errors import ErrorKind

from .conftest import FIXED_NOW, HEADER_SIZE, flip, independent_window, raw_fields

NONCE = b"n" * 32
OTHER_NONCE = b"m" * 32


def bound(nonce: bytes = NONCE) -> bytes:
    return bind_report_data(bound_keys=b"agent-keys", tls_public_key=b"tls-key", nonce=nonce)


def raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture
def dev_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sim_evidence(dev_key: Ed25519PrivateKey) -> Evidence:
    return Evidence(tee="sim", quote=make_sim_quote(attestation_key=dev_key, report_data=bound()))


@pytest.fixture
def tdx_evidence(tdx_quote: bytes, tdx_collateral: bytes) -> Evidence:
    return Evidence(tee="tdx", quote=tdx_quote, collateral_json=tdx_collateral)


@pytest.fixture
def tdx_policy(tdx_quote: bytes) -> MeasurementPolicy:
    """A policy that admits exactly the vector's build, every register pinned."""
    raw = {name: frozenset({value.hex()}) for name, value in raw_fields(tdx_quote).items()}
    return MeasurementPolicy(
        mrtd=raw["mrtd"],
        rtmr0=raw["rtmr0"],
        rtmr1=raw["rtmr1"],
        rtmr2=raw["rtmr2"],
        rtmr3=raw["rtmr3"],
    )


# --- simulated evidence ---------------------------------------------------------------


def test_sim_evidence_is_refused_by_default(sim_evidence: Evidence) -> None:
    # Even a policy that lists the sim MRTD does not admit sim evidence without the switch.
    policy = MeasurementPolicy(mrtd=frozenset({SIM_MRTD.hex()}))
    with pytest.raises(InsecureEvidenceRefused, match="allow_insecure_simulated"):
        verify_evidence(sim_evidence, expected_report_data=bound(), policy=policy)


def test_sim_evidence_is_accepted_by_the_insecure_policy(sim_evidence: Evidence) -> None:
    policy = MeasurementPolicy.insecure_simulated_for_development()
    verified = verify_evidence(sim_evidence, expected_report_data=bound(), policy=policy)
    assert verified.insecure is True
    assert verified.report_data == bound()


def test_insecure_policy_pins_trusted_dev_keys(
    sim_evidence: Evidence, dev_key: Ed25519PrivateKey
) -> None:
    trusting = MeasurementPolicy.insecure_simulated_for_development(
        trusted_sim_keys=frozenset({raw_key(dev_key)})
    )
    assert verify_evidence(sim_evidence, expected_report_data=bound(), policy=trusting).insecure
    stranger = MeasurementPolicy.insecure_simulated_for_development(
        trusted_sim_keys=frozenset({raw_key(Ed25519PrivateKey.generate())})
    )
    with pytest.raises(UntrustedAttestationKey):
        verify_evidence(sim_evidence, expected_report_data=bound(), policy=stranger)


def test_sim_evidence_with_another_nonce_is_a_mismatch(sim_evidence: Evidence) -> None:
    policy = MeasurementPolicy.insecure_simulated_for_development()
    with pytest.raises(ReportDataMismatch, match="replay"):
        verify_evidence(sim_evidence, expected_report_data=bound(OTHER_NONCE), policy=policy)


def test_tampered_sim_report_data_is_refused(sim_evidence: Evidence) -> None:
    quote = bytearray(sim_evidence.quote)
    quote[-64 - 32 - 1] ^= 0x01  # last byte of report_data
    tampered = Evidence(tee="sim", quote=bytes(quote))
    policy = MeasurementPolicy.insecure_simulated_for_development()
    with pytest.raises(QuoteVerificationFailed):
        verify_evidence(tampered, expected_report_data=bound(), policy=policy)


def test_refusal_of_sim_comes_before_looking_at_the_quote() -> None:
    garbage = Evidence(tee="sim", quote=b"garbage")
    with pytest.raises(InsecureEvidenceRefused):
        verify_evidence(garbage, expected_report_data=bound(), policy=MeasurementPolicy())


# --- real TDX evidence -----------------------------------------------------------------


def test_tdx_evidence_with_matching_policy_and_report_data_verifies(
    tdx_evidence: Evidence, tdx_policy: MeasurementPolicy, tdx_quote: bytes
) -> None:
    expected = raw_fields(tdx_quote)["report_data"]
    verified = verify_evidence(
        tdx_evidence, expected_report_data=expected, policy=tdx_policy, now=FIXED_NOW
    )
    assert verified.tcb_status == "UpToDate"
    assert verified.insecure is False


def test_tdx_evidence_with_wrong_report_data_is_a_mismatch(
    tdx_evidence: Evidence, tdx_policy: MeasurementPolicy
) -> None:
    with pytest.raises(ReportDataMismatch):
        verify_evidence(
            tdx_evidence, expected_report_data=bound(), policy=tdx_policy, now=FIXED_NOW
        )


def test_mrtd_not_allowed_names_register_and_value(
    tdx_evidence: Evidence, tdx_quote: bytes
) -> None:
    policy = MeasurementPolicy(mrtd=frozenset({"ab" * 48}))
    mrtd = raw_fields(tdx_quote)["mrtd"]
    with pytest.raises(MeasurementMismatch) as caught:
        verify_evidence(tdx_evidence, expected_report_data=bytes(64), policy=policy, now=FIXED_NOW)
    assert caught.value.register == "mrtd"
    assert caught.value.got == mrtd
    assert mrtd.hex() in caught.value.message
    assert "not among the 1 value(s)" in caught.value.message


def test_rtmr_not_allowed_is_reported_for_that_register(
    tdx_evidence: Evidence, tdx_quote: bytes
) -> None:
    raw = raw_fields(tdx_quote)
    policy = MeasurementPolicy(mrtd=frozenset({raw["mrtd"].hex()}), rtmr2=frozenset({"00" * 48}))
    with pytest.raises(MeasurementMismatch, match="rtmr2") as caught:
        verify_evidence(
            tdx_evidence, expected_report_data=raw["report_data"], policy=policy, now=FIXED_NOW
        )
    assert caught.value.got == raw["rtmr2"]


def test_unset_rtmrs_are_not_checked(tdx_evidence: Evidence, tdx_quote: bytes) -> None:
    raw = raw_fields(tdx_quote)
    policy = MeasurementPolicy(mrtd=frozenset({raw["mrtd"].hex()}))
    verified = verify_evidence(
        tdx_evidence, expected_report_data=raw["report_data"], policy=policy, now=FIXED_NOW
    )
    assert verified.mrtd == raw["mrtd"]


@pytest.mark.parametrize("mrtd", [None, frozenset()])
def test_policy_without_mrtd_denies_everything(
    tdx_evidence: Evidence, tdx_quote: bytes, mrtd: frozenset[str] | None
) -> None:
    raw = raw_fields(tdx_quote)
    with pytest.raises(MeasurementMismatch, match="allows no mrtd"):
        verify_evidence(
            tdx_evidence,
            expected_report_data=raw["report_data"],
            policy=MeasurementPolicy(mrtd=mrtd),
            now=FIXED_NOW,
        )


def test_tcb_status_outside_the_policy_is_refused(tdx_evidence: Evidence, tdx_quote: bytes) -> None:
    raw = raw_fields(tdx_quote)
    policy = MeasurementPolicy(
        mrtd=frozenset({raw["mrtd"].hex()}), allowed_tcb_statuses=frozenset({"OutOfDate"})
    )
    with pytest.raises(TcbStatusRefused, match="UpToDate"):
        verify_evidence(
            tdx_evidence, expected_report_data=raw["report_data"], policy=policy, now=FIXED_NOW
        )


def test_tdx_evidence_without_collateral_is_refused(
    tdx_quote: bytes, tdx_policy: MeasurementPolicy
) -> None:
    with pytest.raises(MalformedCollateral, match="no collateral"):
        verify_evidence(
            Evidence(tee="tdx", quote=tdx_quote),
            expected_report_data=bytes(64),
            policy=tdx_policy,
            now=FIXED_NOW,
        )


def test_unknown_tee_is_refused(tdx_policy: MeasurementPolicy) -> None:
    with pytest.raises(MalformedQuote, match="unknown TEE"):
        verify_evidence(
            Evidence(tee="sgx", quote=b"x"), expected_report_data=bytes(64), policy=tdx_policy
        )


def test_expected_report_data_must_be_64_bytes(
    tdx_evidence: Evidence, tdx_policy: MeasurementPolicy
) -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        verify_evidence(tdx_evidence, expected_report_data=NONCE, policy=tdx_policy)


# --- which reason wins -----------------------------------------------------------------


def test_measurement_mismatch_wins_over_report_data_mismatch(tdx_evidence: Evidence) -> None:
    policy = MeasurementPolicy(mrtd=frozenset({"ab" * 48}))
    with pytest.raises(MeasurementMismatch):
        verify_evidence(tdx_evidence, expected_report_data=bound(), policy=policy, now=FIXED_NOW)


def test_expired_collateral_wins_over_measurements(
    tdx_evidence: Evidence, tdx_collateral: bytes
) -> None:
    _, end = independent_window(tdx_collateral)
    policy = MeasurementPolicy(mrtd=frozenset({"ab" * 48}))
    with pytest.raises(CollateralExpired):
        verify_evidence(tdx_evidence, expected_report_data=bound(), policy=policy, now=end + 60)


def test_forged_quote_wins_over_measurements(
    tdx_quote: bytes, tdx_collateral: bytes, tdx_policy: MeasurementPolicy
) -> None:
    forged = Evidence(
        tee="tdx", quote=flip(tdx_quote, HEADER_SIZE + 136), collateral_json=tdx_collateral
    )
    with pytest.raises(QuoteVerificationFailed):
        verify_evidence(forged, expected_report_data=bound(), policy=tdx_policy, now=FIXED_NOW)


# --- loading a policy ------------------------------------------------------------------


def test_policy_from_json_normalises_hex_and_keeps_defaults() -> None:
    policy = MeasurementPolicy.from_json(json.dumps({"mrtd": ["AB" * 48], "rtmr1": []}))
    assert policy.mrtd == frozenset({"ab" * 48})
    assert policy.rtmr0 is None
    assert policy.rtmr1 == frozenset()
    assert policy.allowed_tcb_statuses == frozenset({"UpToDate"})
    assert policy.allow_insecure_simulated is False
    assert policy.trusted_sim_keys is None


def test_policy_from_file_reads_every_field(tmp_path: Path) -> None:
    key = "11" * 32
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps(
            {
                "mrtd": ["cd" * 48],
                "rtmr3": ["00" * 48],
                "allowed_tcb_statuses": ["UpToDate", "SWHardeningNeeded"],
                "allow_insecure_simulated": True,
                "trusted_sim_keys": [key],
            }
        )
    )
    policy = MeasurementPolicy.from_file(path)
    assert policy.rtmr3 == frozenset({"00" * 48})
    assert policy.allowed_tcb_statuses == frozenset({"UpToDate", "SWHardeningNeeded"})
    assert policy.allow_insecure_simulated is True
    assert policy.trusted_sim_keys == frozenset({bytes.fromhex(key)})


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ("{not json", "not JSON"),
        ("[]", "must be an object"),
        ('{"mrtd": "ab"}', "list of hex strings"),
        ('{"mrtd": ["' + "ab" * 47 + '"]}', "48 bytes of hex"),
        ('{"mrtd": ["' + "zz" * 48 + '"]}', "48 bytes of hex"),
        ('{"mrtd": ["0x' + "ab" * 47 + '"]}', "48 bytes of hex"),
        ('{"rtmr0": [1]}', "list of hex strings"),
        ('{"rtmr_0": []}', "unknown key"),
        ('{"allowed_tcb_statuses": ["UP_TO_DATE"]}', "unknown or unallowable"),
        ('{"allowed_tcb_statuses": ["Revoked"]}', "unknown or unallowable"),
        ('{"allowed_tcb_statuses": "UpToDate"}', "list of strings"),
        ('{"allow_insecure_simulated": "yes"}', "true or false"),
        ('{"trusted_sim_keys": ["abcd"]}', "32-byte key"),
        ('{"trusted_sim_keys": ["xyz"]}', "not hex"),
    ],
)
def test_malformed_policy_json_is_rejected(document: str, match: str) -> None:
    with pytest.raises(MalformedMeasurementPolicy, match=match) as caught:
        MeasurementPolicy.from_json(document)
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT


def test_missing_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MalformedMeasurementPolicy, match="cannot read"):
        MeasurementPolicy.from_file(tmp_path / "absent.json")


def test_constructor_validates_like_the_loader() -> None:
    with pytest.raises(MalformedMeasurementPolicy, match="rtmr1"):
        MeasurementPolicy(mrtd=frozenset({"ab" * 48}), rtmr1=frozenset({"nope"}))
    with pytest.raises(MalformedMeasurementPolicy, match="trusted_sim_keys"):
        MeasurementPolicy(trusted_sim_keys=frozenset({b"short"}))


def test_policy_from_json_without_mrtd_denies(sim_evidence: Evidence) -> None:
    policy = MeasurementPolicy.from_json('{"allow_insecure_simulated": true}')
    with pytest.raises(MeasurementMismatch, match="allows no mrtd"):
        verify_evidence(sim_evidence, expected_report_data=bound(), policy=policy)
