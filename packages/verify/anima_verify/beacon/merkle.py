"""SSZ Merkle branches (consensus-specs `is_valid_merkle_branch` and its normalized
form, which accepts branches padded with zero hashes to a later fork's depth)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

ZERO_HASH = bytes(32)


def floorlog2(value: int) -> int:
    return value.bit_length() - 1


def is_valid_merkle_branch(
    leaf: bytes, branch: Sequence[bytes], depth: int, index: int, root: bytes
) -> bool:
    if len(branch) != depth:
        return False
    value = leaf
    for i, sibling in enumerate(branch):
        if (index >> i) & 1:
            value = hashlib.sha256(sibling + value).digest()
        else:
            value = hashlib.sha256(value + sibling).digest()
    return value == root


def is_valid_normalized_merkle_branch(
    leaf: bytes, branch: Sequence[bytes], gindex: int, root: bytes
) -> bool:
    depth = floorlog2(gindex)
    index = gindex % (1 << depth)
    extra = len(branch) - depth
    if extra < 0 or any(h != ZERO_HASH for h in branch[:extra]):
        return False
    return is_valid_merkle_branch(leaf, branch[extra:], depth, index, root)
