"""RFC 9162 Merkle trees: hashing, proof verification, proof construction, frontier.

Verification follows the decomposition used by transparency-dev/merkle: the
expected proof length is computed up front, so a truncated or padded proof is
named as such instead of surfacing as a generic root mismatch. Hand-written
because no maintained Python package implements RFC 9162 proofs; the code is
small and the RFC's own test vectors pin it down.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from anima_verify.tlog.errors import EmptyTreeConsistency, InvalidProof, RootMismatch

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """MTH of a single entry: SHA-256(0x00 || entry)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# ---------------------------------------------------------------- verification


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise InvalidProof(f"{what} is {len(value)} bytes, want {HASH_SIZE}")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof nodes below and on the right border of the path."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        seed = node_hash(seed, sibling) if (index >> i) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, sibling in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def root_from_inclusion_proof(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof implies; raises InvalidProof when malformed."""
    if index < 0 or size < 0:
        raise InvalidProof("index and size must be non-negative")
    if index >= size:
        raise InvalidProof(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    for i, node in enumerate(proof):
        _check_hash(node, f"proof node {i}")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise InvalidProof(
            f"inclusion proof has {len(proof)} nodes, want {inner + border} "
            f"for leaf {index} in a tree of size {size}"
        )
    result = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise unless `proof` shows leaf `index` with `leaf_hash` is in the tree `root`."""
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash=leaf_hash, index=index, size=size, proof=proof)
    if computed != root:
        raise RootMismatch(
            f"inclusion proof for leaf {index} leads to root {computed.hex()}, "
            f"not the expected {root.hex()}"
        )


def verify_consistency(
    *, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise unless the tree (size2, root2) extends the tree (size1, root1).

    Requires 0 < size1 <= size2, as transparency-dev/merkle does: a proof from the
    empty tree (size1 = 0 < size2) is refused with EmptyTreeConsistency, whatever
    the proof and root1, because it would accept any root1. Equal sizes, 0
    included, need an empty proof and equal roots.
    """
    if size1 < 0 or size2 < 0:
        raise InvalidProof("tree sizes must be non-negative")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    for i, node in enumerate(proof):
        _check_hash(node, f"proof node {i}")
    if size2 < size1:
        raise InvalidProof(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == size2:
        if proof:
            raise InvalidProof(f"trees of equal size need an empty proof, got {len(proof)} nodes")
        if root1 != root2:
            raise RootMismatch(
                f"two different roots for size {size1}: {root1.hex()} and {root2.hex()}"
            )
        return
    if size1 == 0:
        raise EmptyTreeConsistency(
            f"a consistency proof from the empty tree (size1 0) to size {size2} proves "
            "nothing: every tree extends the empty one, so 0 < size1 is required"
        )
    if not proof:
        raise InvalidProof(f"consistency proof from {size1} to {size2} is empty")
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # When size1 is a perfect subtree its root is the first node, and the proof omits it.
    seed, start = (root1, 0) if size1 == 1 << shift else (proof[0], 1)
    if len(proof) != start + inner + border:
        raise InvalidProof(
            f"consistency proof has {len(proof)} nodes, want {start + inner + border} "
            f"from size {size1} to {size2}"
        )
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise RootMismatch(
            f"consistency proof leads to root {hash1.hex()} at size {size1}, "
            f"not the expected {root1.hex()}"
        )
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise RootMismatch(
            f"consistency proof leads to root {hash2.hex()} at size {size2}, "
            f"not the expected {root2.hex()}"
        )


# ---------------------------------------------------------------- construction


class HashReader(Protocol):
    """Hashes of complete subtrees: node(level, index) covers leaves
    [index * 2**level, (index + 1) * 2**level)."""

    def node(self, level: int, index: int) -> bytes: ...


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(reader: HashReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range RFC 9162's recursion produces (start is
    aligned to the next power of two of the range's size)."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return reader.node(level, start >> level)
    k = _split(n)
    return node_hash(subtree_hash(reader, start, start + k), subtree_hash(reader, start + k, end))


def tree_root(reader: HashReader, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(reader, 0, size)


def inclusion_proof(reader: HashReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree_hash(reader, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(reader, start, start + k))
            start += k
    proof.reverse()  # the RFC lists the deepest sibling first
    return proof


def consistency_proof(reader: HashReader, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1); 0 < size1 <= size2, or both 0.

    EmptyTreeConsistency for size1 = 0 < size2: RFC 9162 defines no such proof.
    """
    if not 0 <= size1 <= size2:
        raise InvalidProof(f"no consistency proof from size {size1} to {size2}")
    if size1 == size2:
        return []
    if size1 == 0:
        raise EmptyTreeConsistency(
            f"no consistency proof from the empty tree to size {size2}: "
            "every tree extends the empty one, so 0 < size1 is required"
        )
    proof: list[bytes] = []
    start, end, m, complete = 0, size2, size1, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(subtree_hash(reader, start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(subtree_hash(reader, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(reader, start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


# ---------------------------------------------------------------- frontier


class CompactRange:
    """The Merkle frontier of [0, size): one hash per set bit of size, largest
    subtree first. O(log n) state is enough to append and to compute the root."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self._size = size
        self._hashes = list(hashes)
        if size < 0 or len(self._hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes")
        if any(len(h) != HASH_SIZE for h in self._hashes):
            raise ValueError(f"frontier hashes are {HASH_SIZE} bytes")

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash; merges as many full subtrees as the old size has trailing ones."""
        hashes = self._hashes
        hashes.append(leaf)
        size = self._size
        while size & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            size >>= 1
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return root_from_frontier(self._hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)

    def to_bytes(self) -> bytes:
        """size (8 bytes, big-endian) || hashes: the frontier's durable form."""
        return self._size.to_bytes(8, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        if len(data) < 8:
            raise ValueError("a stored frontier is at least 8 bytes")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        if len(body) != size.bit_count() * HASH_SIZE:
            raise ValueError(f"a stored frontier of size {size} has the wrong length")
        return cls(size, [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)])


def root_from_frontier(hashes: Sequence[bytes]) -> bytes:
    """Fold a frontier (perfect subtree roots, largest first) into the tree root."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root_from_leaf_hashes(leaves: Iterable[bytes]) -> bytes:
    frontier = CompactRange()
    frontier.extend(leaves)
    return frontier.root()
