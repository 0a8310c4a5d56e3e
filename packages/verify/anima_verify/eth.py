"""Checks on Ethereum signatures for callers and third parties.

Only canonical signatures pass: 65 bytes r || s || v, 0 < r, s < n, low s
(EIP-2, so a malleated copy of a valid signature is refused) and v in {27, 28}.
"""

from __future__ import annotations

import coincurve
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anima_verify.errors import AnimaError, ErrorKind

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class InvalidEthereumSignature(AnimaError):
    """The signature is malformed, non-canonical, or does not recover."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "INVALID_ETH_SIGNATURE"


def eth_address(public_key: coincurve.PublicKey) -> str:
    """The EIP-55 address of a secp256k1 public key."""
    return str(to_checksum_address(keccak(public_key.format(compressed=False)[1:])[-20:]))


def recover_address(digest: bytes, signature: bytes) -> str:
    """The EIP-55 address that made `signature` over the 32-byte `digest`."""
    if len(digest) != 32:
        raise InvalidEthereumSignature("the digest must be 32 bytes")
    if len(signature) != 65:
        raise InvalidEthereumSignature(f"an Ethereum signature is 65 bytes, got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if not (0 < r < SECP256K1_ORDER and 0 < s < SECP256K1_ORDER):
        raise InvalidEthereumSignature("r and s must be in 1..n-1")
    if s > SECP256K1_ORDER // 2:
        raise InvalidEthereumSignature(
            "non-canonical signature: s is in the upper half of the order (EIP-2)"
        )
    if v not in (27, 28):
        raise InvalidEthereumSignature(f"v must be 27 or 28, got {v}")
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), digest, hasher=None
        )
    except ValueError as exc:
        raise InvalidEthereumSignature("the signature does not recover to a public key") from exc
    return eth_address(public)
