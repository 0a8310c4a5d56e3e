"""The simulated quote: INSECURE, for development and tests only.

A sim quote lets the whole stack run without TEE hardware, and proves nothing:
whoever holds the development attestation key can make one with any
report_data. It is made unmistakable instead of plausible: the format starts
with a magic that says INSECURE, verifiers mark it `insecure=True`, and
`verify_evidence` refuses it unless a policy explicitly allows it.

Layout (fixed size, no length fields to get wrong):

    magic           27  b"ANIMA-INSECURE-SIM-QUOTE/v1"
    mrtd            48  SIM_MRTD
    rtmr0..rtmr3  4x48  SIM_RTMR0..SIM_RTMR3
    report_data     64
    public key      32  Ed25519, the development attestation key
    signature       64  Ed25519 over every byte before it
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.attestation.errors import (
    MalformedQuote,
    QuoteVerificationFailed,
    UntrustedAttestationKey,
)
from anima_verify.attestation.evidence import REPORT_DATA_SIZE, TEE_SIM
from anima_verify.attestation.tdx import MEASUREMENT_SIZE, VerifiedQuote

SIM_QUOTE_MAGIC = b"ANIMA-INSECURE-SIM-QUOTE/v1"
SIM_TCB_STATUS = "Simulated"
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def _sim_measurement(label: bytes) -> bytes:
    """A fixed, recognisable value: SHA-384 (48 bytes, like a TDX register) of a label."""
    return hashlib.sha384(label).digest()


SIM_MRTD = _sim_measurement(b"anima/sim/mrtd")
SIM_RTMR0 = _sim_measurement(b"anima/sim/rtmr0")
SIM_RTMR1 = _sim_measurement(b"anima/sim/rtmr1")
SIM_RTMR2 = _sim_measurement(b"anima/sim/rtmr2")
SIM_RTMR3 = _sim_measurement(b"anima/sim/rtmr3")

_MEASUREMENTS = (SIM_MRTD, SIM_RTMR0, SIM_RTMR1, SIM_RTMR2, SIM_RTMR3)
_SIGNED_SIZE = len(SIM_QUOTE_MAGIC) + 5 * MEASUREMENT_SIZE + REPORT_DATA_SIZE + PUBLIC_KEY_SIZE
SIM_QUOTE_SIZE = _SIGNED_SIZE + SIGNATURE_SIZE


def make_sim_quote(*, attestation_key: Ed25519PrivateKey, report_data: bytes) -> bytes:
    """Make an insecure simulated quote binding `report_data`, signed by `attestation_key`."""
    if len(report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"report_data must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")
    public_key = attestation_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signed = SIM_QUOTE_MAGIC + b"".join(_MEASUREMENTS) + bytes(report_data) + public_key
    return signed + attestation_key.sign(signed)


def sim_quote_public_key(quote: bytes) -> bytes:
    """The (unverified) development key embedded in a sim quote, e.g. to tell an operator."""
    _check_structure(quote)
    return bytes(quote[_SIGNED_SIZE - PUBLIC_KEY_SIZE : _SIGNED_SIZE])


def verify_sim_quote(
    quote: bytes, *, trusted_keys: frozenset[bytes] | None = None
) -> VerifiedQuote:
    """Check a sim quote's structure and signature; with `trusted_keys`, also who signed it.

    Without `trusted_keys` the signature only proves the quote is intact, not
    who made it. The result is always `insecure=True`, status "Simulated".
    """
    raw = _check_structure(quote)
    signed, signature = raw[:_SIGNED_SIZE], raw[_SIGNED_SIZE:]
    public_key = signed[-PUBLIC_KEY_SIZE:]
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except (InvalidSignature, ValueError):
        raise QuoteVerificationFailed(
            "simulated quote signature does not verify: the quote was altered after signing"
        ) from None
    if trusted_keys is not None and public_key not in trusted_keys:
        raise UntrustedAttestationKey(
            f"simulated quote is signed by development key {public_key.hex()}, which is not "
            "among the trusted development keys; add it to the policy's trusted_sim_keys "
            "if that development enclave is yours"
        )
    offset = len(SIM_QUOTE_MAGIC)
    fields: list[bytes] = []
    for _ in range(5):
        fields.append(signed[offset : offset + MEASUREMENT_SIZE])
        offset += MEASUREMENT_SIZE
    report_data = signed[offset : offset + REPORT_DATA_SIZE]
    return VerifiedQuote(
        tee=TEE_SIM,
        tcb_status=SIM_TCB_STATUS,
        advisory_ids=(),
        mrtd=fields[0],
        rtmr0=fields[1],
        rtmr1=fields[2],
        rtmr2=fields[3],
        rtmr3=fields[4],
        report_data=report_data,
        insecure=True,
    )


def _check_structure(quote: bytes) -> bytes:
    if not isinstance(quote, bytes | bytearray | memoryview):
        raise MalformedQuote(f"a quote must be bytes, not {type(quote).__name__}")
    raw = bytes(quote)
    if not raw.startswith(SIM_QUOTE_MAGIC):
        raise MalformedQuote(
            "not a simulated quote: it does not start with "
            f"{SIM_QUOTE_MAGIC.decode()!r} (is this TDX evidence labelled as 'sim'?)"
        )
    if len(raw) != SIM_QUOTE_SIZE:
        raise MalformedQuote(
            f"simulated quote must be exactly {SIM_QUOTE_SIZE} bytes, got {len(raw)} "
            "(truncated or padded)"
        )
    return raw
