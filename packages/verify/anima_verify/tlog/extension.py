"""A consistency proof from what a sequencer keeps: the frontier at the old size and
the leaf hashes appended since.

Every node of PROOF(m, D[0:n]) (RFC 9162 §2.1.4.1) either is a node of the
frontier of [0, m) (the perfect subtrees left of m) or covers leaves in [m, n)
only, so a log that keeps no tree, like the enclave's sequencer, can still prove
to a witness that its new checkpoint extends the one the witness cosigned.
"""

from __future__ import annotations

from collections.abc import Sequence

from anima_verify.tlog.merkle import CompactRange, consistency_proof, root_from_leaf_hashes


class _FrontierAndLeaves:
    """A HashReader over the frontier of [0, m) and the leaf hashes [m, n)."""

    def __init__(self, frontier: CompactRange, leaves: Sequence[bytes]) -> None:
        self._old = frontier.size
        self._leaves = leaves
        self._frontier: dict[tuple[int, int], bytes] = {}
        start = 0
        for node in frontier.hashes:  # largest subtree first
            level = (frontier.size - start).bit_length() - 1
            self._frontier[(level, start >> level)] = node
            start += 1 << level

    def node(self, level: int, index: int) -> bytes:
        start, end = index << level, (index + 1) << level
        found = self._frontier.get((level, index))
        if found is not None:
            return found
        if start >= self._old and end - self._old <= len(self._leaves):
            return root_from_leaf_hashes(self._leaves[start - self._old : end - self._old])
        raise ValueError(f"node [{start}, {end}) is neither in the frontier nor after it")


def consistency_proof_from_frontier(frontier: CompactRange, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[0:m+len(leaves)]) for m = frontier.size; empty from size 0 (the
    empty tree needs none, as C2SP tlog-witness asks) or when nothing was added."""
    if frontier.size == 0:
        return []
    reader = _FrontierAndLeaves(frontier, leaves)
    return consistency_proof(reader, frontier.size, frontier.size + len(leaves))
