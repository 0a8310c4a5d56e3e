"""Attestation evidence and the report_data binding shared by enclave and verifiers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TEE_SIM = "sim"
TEE_TDX = "tdx"

REPORT_DATA_DOMAIN = b"anima/attestation/report-data/v1"
REPORT_DATA_SIZE = 64
MIN_NONCE_SIZE = 16
MAX_NONCE_SIZE = 64


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an enclave hands a verifier: a quote, and collateral when it has some."""

    tee: str
    quote: bytes
    collateral_json: bytes | None = None


def bind_report_data(*, bound_keys: bytes, tls_public_key: bytes, nonce: bytes) -> bytes:
    """The 64 bytes an enclave puts in report_data.

    SHA-512 over a domain tag and length-prefixed fields, so no two different
    (keys, TLS key, nonce) triples can produce the same input.
    """
    h = hashlib.sha512()
    for part in (REPORT_DATA_DOMAIN, bound_keys, tls_public_key, nonce):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()
