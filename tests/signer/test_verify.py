"""Canonical-signature checks: malleated, malformed and foreign signatures are refused."""

from __future__ import annotations

import coincurve
import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct

from anima_signer.eth import sign_digest
from anima_verify.eth import SECP256K1_ORDER, InvalidEthereumSignature, eth_address, recover_address

KEY = coincurve.PrivateKey(b"\x11" * 32)
DIGEST = _hash_eip191_message(encode_defunct(b"hello"))


def good() -> bytes:
    return sign_digest(KEY, DIGEST)


def test_a_canonical_signature_recovers_like_eth_account() -> None:
    signature = good()
    assert recover_address(DIGEST, signature) == eth_address(KEY.public_key)
    assert Account.recover_message(encode_defunct(b"hello"), signature=signature) == (
        eth_address(KEY.public_key)
    )


def malleated(signature: bytes) -> bytes:
    """(r, n - s, flipped v): valid for ECDSA, refused by EIP-2."""
    s = int.from_bytes(signature[32:64], "big")
    v = 55 - signature[64]  # 27 <-> 28
    return signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([v])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (malleated, "non-canonical"),
        (lambda s: s[:64] + b"\x1d", "v must be 27 or 28"),
        (lambda s: s[:64] + b"\x00", "v must be 27 or 28"),
        (lambda s: s[:64], "65 bytes"),
        (lambda s: s + b"\x00", "65 bytes"),
        (lambda s: bytes(32) + s[32:], "r and s"),
        (lambda s: s[:32] + SECP256K1_ORDER.to_bytes(32, "big") + s[64:], "r and s"),
    ],
)
def test_bad_signatures_are_refused(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidEthereumSignature, match=reason):
        recover_address(DIGEST, mutate(good()))


def test_a_signature_over_another_digest_recovers_someone_else() -> None:
    other = _hash_eip191_message(encode_defunct(b"hellO"))
    assert recover_address(other, good()) != eth_address(KEY.public_key)


def test_malleated_signature_is_still_valid_ecdsa() -> None:
    """Pins why EIP-2 matters: without the low-s rule the malleated copy recovers too."""
    bad = malleated(good())
    public = coincurve.PublicKey.from_signature_and_message(
        bad[:64] + bytes([bad[64] - 27]), DIGEST, hasher=None
    )
    assert eth_address(public) == eth_address(KEY.public_key)
