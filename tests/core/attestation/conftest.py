"""The real TDX vector, read in place, and the fixed clock it verifies at.

Vectors are never copied into the repo: they are read from
$ANIMA_VECTORS_DIR/attestation, by default the `shared/vectors` directory
beside the repository, and tests that need them skip when it is absent.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509

from tests.vectors import require_vectors

REPO_ROOT = Path(__file__).resolve().parents[3]

# 2025-07-01T00:00:00Z: inside the vector's collateral window
# [2025-06-19T10:32:27Z, 2025-07-19T10:00:35Z) (QE identity issueDate .. PCK CRL nextUpdate).
FIXED_NOW = 1751328000

# TDX quote v4 layout (Intel TDX DCAP Quoting Library API, "Quote Format"):
# a 48-byte header, then the 584-byte TD report body.
HEADER_SIZE = 48
BODY_SIZE = 584
BODY_MRTD = 136
BODY_RTMR0 = 328
BODY_REPORT_DATA = 520
SIGNATURE_LEN_OFFSET = HEADER_SIZE + BODY_SIZE  # u32 little endian, then the signature data


@pytest.fixture(scope="session")
def attestation_vectors() -> Path:
    return require_vectors("attestation", "tdx_quote", "tdx_quote_collateral.json")


@pytest.fixture(scope="session")
def tdx_quote(attestation_vectors: Path) -> bytes:
    return (attestation_vectors / "tdx_quote").read_bytes()


@pytest.fixture(scope="session")
def tdx_collateral(attestation_vectors: Path) -> bytes:
    return (attestation_vectors / "tdx_quote_collateral.json").read_bytes()


def rfc3339(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def independent_window(collateral_json: bytes) -> tuple[int, int]:
    """The collateral window, read straight from the JSON (not via the code under test)."""
    document = json.loads(collateral_json)
    starts: list[int] = []
    ends: list[int] = []
    for key in ("tcb_info", "qe_identity"):
        body = json.loads(document[key])
        starts.append(rfc3339(body["issueDate"]))
        ends.append(rfc3339(body["nextUpdate"]))
    for key in ("pck_crl", "root_ca_crl"):
        crl = x509.load_der_x509_crl(bytes.fromhex(document[key]))
        starts.append(int(crl.last_update_utc.timestamp()))
        assert crl.next_update_utc is not None
        ends.append(int(crl.next_update_utc.timestamp()))
    return max(starts), min(ends)


def raw_fields(quote: bytes) -> dict[str, bytes]:
    """MRTD, RTMRs and report_data sliced from the raw bytes at the v4 offsets."""
    body = quote[HEADER_SIZE : HEADER_SIZE + BODY_SIZE]
    fields = {"mrtd": body[BODY_MRTD : BODY_MRTD + 48]}
    for i in range(4):
        start = BODY_RTMR0 + 48 * i
        fields[f"rtmr{i}"] = body[start : start + 48]
    fields["report_data"] = body[BODY_REPORT_DATA : BODY_REPORT_DATA + 64]
    return fields


def flip(data: bytes, index: int) -> bytes:
    mutated = bytearray(data)
    mutated[index] ^= 0x01
    return bytes(mutated)
