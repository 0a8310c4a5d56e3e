"""The insecure simulated quote: made and checked without hardware, and never mistaken for TDX."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.attestation import (
    MalformedQuote,
    QuoteVerificationFailed,
    UntrustedAttestationKey,
    make_sim_quote,
    verify_sim_quote,
    verify_tdx_quote,
)
from anima_verify.attestation.sim import SIM_QUOTE_SIZE, sim_quote_public_key

MAGIC = b"ANIMA-INSECURE-SIM-QUOTE/v1"
REPORT_DATA = bytes(range(64))
# Offsets in the documented layout: magic, 5 x 48 measurements, report_data, key, signature.
REPORT_DATA_AT = len(MAGIC) + 5 * 48
KEY_AT = REPORT_DATA_AT + 64
SIGNATURE_AT = KEY_AT + 32


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture
def dev_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def quote(dev_key: Ed25519PrivateKey) -> bytes:
    return make_sim_quote(attestation_key=dev_key, report_data=REPORT_DATA)


def test_sim_quote_says_it_is_insecure(quote: bytes) -> None:
    assert quote.startswith(MAGIC)
    assert len(quote) == SIM_QUOTE_SIZE == len(MAGIC) + 5 * 48 + 64 + 32 + 64


def test_round_trip_gives_fixed_measurements_and_report_data(
    quote: bytes, dev_key: Ed25519PrivateKey
) -> None:
    verified = verify_sim_quote(quote)

    assert verified.insecure is True
    assert verified.tee == "sim"
    assert verified.tcb_status == "Simulated"
    assert verified.advisory_ids == ()
    assert verified.mrtd == hashlib.sha384(b"anima/sim/mrtd").digest()
    assert verified.rtmr0 == hashlib.sha384(b"anima/sim/rtmr0").digest()
    assert verified.rtmr3 == hashlib.sha384(b"anima/sim/rtmr3").digest()
    assert verified.report_data == REPORT_DATA
    assert sim_quote_public_key(quote) == raw_public_key(dev_key)


def test_trusted_key_is_accepted(quote: bytes, dev_key: Ed25519PrivateKey) -> None:
    verified = verify_sim_quote(quote, trusted_keys=frozenset({raw_public_key(dev_key)}))
    assert verified.report_data == REPORT_DATA


def test_untrusted_key_is_refused(quote: bytes) -> None:
    other = raw_public_key(Ed25519PrivateKey.generate())
    with pytest.raises(UntrustedAttestationKey, match="not among the trusted"):
        verify_sim_quote(quote, trusted_keys=frozenset({other}))


def test_empty_trust_set_trusts_nobody(quote: bytes) -> None:
    with pytest.raises(UntrustedAttestationKey):
        verify_sim_quote(quote, trusted_keys=frozenset())


@pytest.mark.parametrize(
    ("what", "index"),
    [
        ("report_data", REPORT_DATA_AT + 7),
        ("mrtd", len(MAGIC) + 1),
        ("rtmr3", len(MAGIC) + 4 * 48 + 1),
        ("signature", SIGNATURE_AT + 10),
        ("magic version digit", len(MAGIC) - 1),
    ],
)
def test_tampering_is_detected(quote: bytes, what: str, index: int) -> None:
    tampered = bytearray(quote)
    tampered[index] ^= 0x01
    with pytest.raises((QuoteVerificationFailed, MalformedQuote)) as caught:
        verify_sim_quote(bytes(tampered))
    # Only a damaged magic is a format error; any other change breaks the signature.
    expected = MalformedQuote if what == "magic version digit" else QuoteVerificationFailed
    assert type(caught.value) is expected


def test_swapping_in_another_key_does_not_verify(quote: bytes) -> None:
    attacker = raw_public_key(Ed25519PrivateKey.generate())
    swapped = quote[:KEY_AT] + attacker + quote[SIGNATURE_AT:]
    with pytest.raises(QuoteVerificationFailed, match="altered"):
        verify_sim_quote(swapped, trusted_keys=frozenset({attacker}))


@pytest.mark.parametrize("cut", [0, 10, SIM_QUOTE_SIZE - 1])
def test_truncated_sim_quote_is_malformed(quote: bytes, cut: int) -> None:
    with pytest.raises(MalformedQuote):
        verify_sim_quote(quote[:cut])


def test_padded_sim_quote_is_malformed(quote: bytes) -> None:
    with pytest.raises(MalformedQuote, match="exactly"):
        verify_sim_quote(quote + b"\x00")


def test_tdx_shaped_bytes_are_not_a_sim_quote() -> None:
    with pytest.raises(MalformedQuote, match="not a simulated quote"):
        verify_sim_quote(b"\x04\x00\x02\x00\x81" + bytes(600))


def test_sim_quote_is_never_accepted_as_tdx(quote: bytes) -> None:
    with pytest.raises(MalformedQuote):
        verify_tdx_quote(quote, "{}", now=0)


def test_report_data_must_be_64_bytes(dev_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        make_sim_quote(attestation_key=dev_key, report_data=b"short")


def test_non_canonical_signature_is_refused(quote: bytes) -> None:
    """S + L verifies in lax Ed25519 implementations; RFC 8032 requires S < L."""
    group_order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(quote[-32:], "little")
    malleated = quote[:-32] + (s + group_order).to_bytes(32, "little")
    with pytest.raises(QuoteVerificationFailed):
        verify_sim_quote(malleated)
