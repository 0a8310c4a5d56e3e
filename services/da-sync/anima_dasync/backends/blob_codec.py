"""Bytes <-> EIP-4844 blobs, and the KZG checks that make a blob trustworthy.

A blob is 4096 field elements of 32 bytes, each below the BLS12-381 scalar modulus;
we put 31 data bytes in each element behind a zero high byte, so every blob is
canonical whatever the data (126,976 data bytes per blob). The trusted setup (the
Ethereum KZG ceremony's output) is loaded once per process; its file ships inside
eth-account (the ckzg wheel has none), and its SHA-256 is pinned here so a swapped
file is refused.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from dataclasses import dataclass

import ckzg
import eth_account.typed_transactions.blob_transactions as setup_package

from anima_dasync.backends.chain_rpc import ChainDataMismatch

FIELD_ELEMENTS_PER_BLOB = 4096
BYTES_PER_BLOB = 32 * FIELD_ELEMENTS_PER_BLOB
DATA_BYTES_PER_ELEMENT = 31
DATA_BYTES_PER_BLOB = DATA_BYTES_PER_ELEMENT * FIELD_ELEMENTS_PER_BLOB
VERSIONED_HASH_VERSION_KZG = b"\x01"
TRUSTED_SETUP_SHA256 = "d39b9f2d047cc9dca2de58f264b6a09448ccd34db967881a6713eacacf0f26b7"
_SETUP_FILE = "kzg_trusted_setup.txt"


class TrustedSetupMismatch(RuntimeError):
    """The KZG trusted setup file is not the Ethereum ceremony's: refuse to use it."""


@functools.cache
def trusted_setup() -> object:
    """ckzg's loaded setup, once per process (loading takes about a second)."""
    resource = importlib.resources.files(setup_package) / _SETUP_FILE
    with importlib.resources.as_file(resource) as path:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != TRUSTED_SETUP_SHA256:
            raise TrustedSetupMismatch(f"{path} has SHA-256 {digest}, not the pinned setup")
        return ckzg.load_trusted_setup(str(path), 0)


@dataclass(frozen=True, slots=True)
class BlobBundle:
    """A transaction's sidecar: blobs, their commitments and proofs, and versioned hashes."""

    blobs: tuple[bytes, ...]
    commitments: tuple[bytes, ...]
    proofs: tuple[bytes, ...]
    versioned_hashes: tuple[bytes, ...]


def blob_count(length: int) -> int:
    return max(1, -(-length // DATA_BYTES_PER_BLOB))


def encode_blobs(data: bytes) -> list[bytes]:
    """`data` in blobs of 31 bytes per element (zero-padded to whole blobs)."""
    blobs = []
    for start in range(0, max(len(data), 1), DATA_BYTES_PER_BLOB):
        piece = data[start : start + DATA_BYTES_PER_BLOB].ljust(DATA_BYTES_PER_BLOB, b"\0")
        blob = bytearray(BYTES_PER_BLOB)
        for element in range(FIELD_ELEMENTS_PER_BLOB):
            offset = DATA_BYTES_PER_ELEMENT * element
            blob[32 * element + 1 : 32 * element + 32] = piece[offset : offset + 31]
        blobs.append(bytes(blob))
    return blobs


def decode_blobs(blobs: list[bytes], length: int) -> bytes:
    """The first `length` data bytes of `blobs` (the inverse of encode_blobs)."""
    if length > len(blobs) * DATA_BYTES_PER_BLOB:
        raise ChainDataMismatch(f"{len(blobs)} blob(s) cannot hold {length} bytes")
    out = bytearray()
    for blob in blobs:
        for element in range(FIELD_ELEMENTS_PER_BLOB):
            out += blob[32 * element + 1 : 32 * element + 32]
    return bytes(out[:length])


def versioned_hash(commitment: bytes) -> bytes:
    return VERSIONED_HASH_VERSION_KZG + hashlib.sha256(commitment).digest()[1:]


def bundle(data: bytes) -> BlobBundle:
    setup = trusted_setup()
    blobs = encode_blobs(data)
    commitments = [bytes(ckzg.blob_to_kzg_commitment(b, setup)) for b in blobs]
    proofs = [
        bytes(ckzg.compute_blob_kzg_proof(b, c, setup))
        for b, c in zip(blobs, commitments, strict=True)
    ]
    return BlobBundle(
        blobs=tuple(blobs),
        commitments=tuple(commitments),
        proofs=tuple(proofs),
        versioned_hashes=tuple(versioned_hash(c) for c in commitments),
    )


def check_blob(blob: bytes, expected_versioned_hash: bytes) -> None:
    """The blob is the one the versioned hash commits to, else ChainDataMismatch.

    The commitment is recomputed from the blob (deterministic), so no proof from the
    node is needed; an ill-formed blob (a non-canonical element) is refused too.
    """
    if len(blob) != BYTES_PER_BLOB:
        raise ChainDataMismatch(f"a blob is {BYTES_PER_BLOB} bytes, got {len(blob)}")
    try:
        commitment = bytes(ckzg.blob_to_kzg_commitment(blob, trusted_setup()))
    except Exception:  # ckzg raises RuntimeError/ValueError for non-canonical elements
        raise ChainDataMismatch("the blob is not a valid KZG blob") from None
    if versioned_hash(commitment) != expected_versioned_hash:
        raise ChainDataMismatch(
            f"blob does not match versioned hash {expected_versioned_hash.hex()[:16]}…"
        )
