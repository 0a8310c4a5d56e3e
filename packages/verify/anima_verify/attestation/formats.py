"""Recognise, by structure alone, attestation evidence that is not an Intel TDX quote.

Operators sometimes hand `anima attest verify` the evidence of another TEE. A
generic "not a decodable TDX quote" leaves them guessing; naming the format
they gave ("an AMD SEV-SNP attestation report") tells them what went wrong.
Nothing here verifies anything: these are shape checks, used only to word an
error, never to accept evidence.

Layouts recognised:
- Intel SGX DCAP quote: the 48-byte DCAP header (version u16, attestation key
  type u16, TEE type u32, little endian) with version 3 (SGX only; the TEE type
  field is reserved, zero), or version 4/5 with TEE type 0x00000000 (TDX is
  0x00000081). Attestation key type 2 (ECDSA P-256) or 3 (ECDSA P-384).
- AMD SEV-SNP attestation report (SEV-SNP firmware ABI, ATTESTATION_REPORT):
  exactly 1184 (0x4A0) bytes, VERSION u32 at 0x00 in 2..5, SIGNATURE_ALGO u32
  at 0x34 equal to 1 (ECDSA P-384 with SHA-384).
- AWS Nitro Enclaves attestation document: a CBOR COSE_Sign1 structure, an
  array of four (0x84) or the same under CBOR tag 18 (0xD2 0x84), whose first
  element is a byte string (the protected header); named as Nitro when its
  payload carries Nitro's `module_id` and `pcrs` keys.
"""

from __future__ import annotations

from dataclasses import dataclass

DCAP_HEADER_SIZE = 48
SGX_TEE_TYPE = 0x00
_DCAP_ECDSA_KEY_TYPES = frozenset({2, 3})

SEV_SNP_REPORT_SIZE = 0x4A0  # 1184
SEV_SNP_VERSIONS = range(2, 6)
_SEV_SNP_SIGNATURE_ALGO_OFFSET = 0x34
_SEV_SNP_ECDSA_P384_SHA384 = 1

_CBOR_ARRAY_OF_4 = 0x84
_CBOR_TAG_COSE_SIGN1 = 0xD2  # tag 18
_CBOR_BYTE_STRINGS = range(0x40, 0x5C)  # major type 2, definite lengths
_NITRO_PAYLOAD_KEYS = (b"module_id", b"pcrs")


@dataclass(frozen=True, slots=True)
class ForeignEvidence:
    """Evidence of another kind than a TDX quote, as far as its structure tells."""

    format: str  # "sgx-quote", "sev-snp-report", "nitro-document" or "cose-sign1"
    description: str  # "an AMD SEV-SNP attestation report (1184 bytes, version 2)"


def identify_foreign_evidence(raw: bytes) -> ForeignEvidence | None:
    """The kind of evidence `raw` looks like when that is not a TDX quote, else None.

    None also for a TDX quote, and for bytes of no recognised shape.
    """
    return _sgx_quote(raw) or _sev_snp_report(raw) or _cose_sign1(raw)


def _u16(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at : at + 2], "little")


def _u32(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at : at + 4], "little")


def _sgx_quote(raw: bytes) -> ForeignEvidence | None:
    if len(raw) < DCAP_HEADER_SIZE:
        return None
    version, key_type, tee_type = _u16(raw, 0), _u16(raw, 2), _u32(raw, 4)
    if key_type not in _DCAP_ECDSA_KEY_TYPES or tee_type != SGX_TEE_TYPE:
        return None
    if version not in (3, 4, 5):
        return None
    return ForeignEvidence(
        "sgx-quote", f"an Intel SGX quote (version {version}, TEE type {tee_type:#010x})"
    )


def _sev_snp_report(raw: bytes) -> ForeignEvidence | None:
    if len(raw) != SEV_SNP_REPORT_SIZE:
        return None
    version = _u32(raw, 0)
    algo = _u32(raw, _SEV_SNP_SIGNATURE_ALGO_OFFSET)
    if version not in SEV_SNP_VERSIONS or algo != _SEV_SNP_ECDSA_P384_SHA384:
        return None
    return ForeignEvidence(
        "sev-snp-report",
        f"an AMD SEV-SNP attestation report ({SEV_SNP_REPORT_SIZE} bytes, version {version})",
    )


def _cose_sign1(raw: bytes) -> ForeignEvidence | None:
    body = raw[1:] if raw[:1] == bytes([_CBOR_TAG_COSE_SIGN1]) else raw
    if len(body) < 2 or body[0] != _CBOR_ARRAY_OF_4 or body[1] not in _CBOR_BYTE_STRINGS:
        return None
    if all(key in body for key in _NITRO_PAYLOAD_KEYS):
        return ForeignEvidence(
            "nitro-document", "an AWS Nitro Enclaves attestation document (CBOR COSE_Sign1)"
        )
    return ForeignEvidence(
        "cose-sign1",
        "a CBOR COSE_Sign1 document (the envelope of an AWS Nitro Enclaves attestation document)",
    )
