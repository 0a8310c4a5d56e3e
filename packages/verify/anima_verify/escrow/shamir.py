"""k-of-n splitting of a 32-byte agent root.

pycryptodome's Shamir (maintained, already a dependency for keccak) shares
16-byte secrets over GF(2^128); a 32-byte root is split as two halves with
independent random polynomials and the same x coordinates, so a share is one
index and 32 bytes. Fewer than k shares reveal nothing about either half.
Shamir alone does not authenticate shares: the caller checks the combined root
against the agent's known public identity (anima_verify.escrow.share).
"""

from __future__ import annotations

from dataclasses import dataclass

from Crypto.Protocol.SecretSharing import Shamir

SECRET_SIZE = 32
_HALF = SECRET_SIZE // 2
MAX_SHARES = 255


@dataclass(frozen=True, slots=True)
class Share:
    index: int  # x coordinate, 1..n
    value: bytes  # 32 bytes: the two halves' y coordinates

    def __repr__(self) -> str:  # never print share bytes
        return f"Share(index={self.index})"


def split_secret(secret: bytes, *, threshold: int, shares: int) -> list[Share]:
    if len(secret) != SECRET_SIZE:
        raise ValueError(f"the secret is {SECRET_SIZE} bytes")
    if not 1 <= threshold <= shares <= MAX_SHARES:
        raise ValueError(f"need 1 <= threshold <= shares <= {MAX_SHARES}")
    if threshold == 1:
        # pycryptodome needs k >= 2; a 1-of-n escrow is n copies (the polynomial is constant).
        return [Share(i, secret) for i in range(1, shares + 1)]
    low = Shamir.split(threshold, shares, secret[:_HALF], ssss=False)
    high = Shamir.split(threshold, shares, secret[_HALF:], ssss=False)
    return [Share(i, a + b) for (i, a), (j, b) in zip(low, high, strict=True) if i == j]


def combine_shares(shares: list[Share], *, threshold: int) -> bytes:
    """The secret from `threshold` shares of distinct indices (the caller checks counts)."""
    chosen = shares[:threshold]
    if len(chosen) != threshold or len({s.index for s in chosen}) != threshold:
        raise ValueError("need threshold shares with distinct indices")
    if any(len(s.value) != SECRET_SIZE or not 1 <= s.index <= MAX_SHARES for s in chosen):
        raise ValueError("malformed share")
    if threshold == 1:
        return chosen[0].value
    low = Shamir.combine([(s.index, s.value[:_HALF]) for s in chosen], ssss=False)
    high = Shamir.combine([(s.index, s.value[_HALF:]) for s in chosen], ssss=False)
    return bytes(low + high)
