"""RFC 9162 proofs: the shared vectors (every file, failing ones included), and
construction checked against the RFC's recursive definitions written out here."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from anima_verify.tlog.errors import (
    EmptyTreeConsistency,
    InvalidProof,
    LogVerificationError,
    RootMismatch,
)
from anima_verify.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.vectors import require_vectors, vectors_dir


def _vector_files(kind: str) -> list[Path]:
    return sorted(vectors_dir("merkle").glob(f"{kind}/*/*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _load(path: Path) -> dict[str, Any]:
    require_vectors("merkle", path.relative_to(vectors_dir("merkle")).as_posix())
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", _vector_files("inclusion"), ids=_id)
def test_inclusion_vectors(path: Path) -> None:
    v = _load(path)
    proof = [_b64(p) for p in v["proof"] or []]
    args = {"leaf_hash": _b64(v["leafHash"]), "index": v["leafIdx"], "size": v["treeSize"]}
    if v["wantErr"]:
        with pytest.raises(LogVerificationError) as caught:
            verify_inclusion(**args, proof=proof, root=_b64(v["root"]))
        assert caught.value.message
    else:
        verify_inclusion(**args, proof=proof, root=_b64(v["root"]))


@pytest.mark.parametrize("path", _vector_files("consistency"), ids=_id)
def test_consistency_vectors(path: Path) -> None:
    v = _load(path)
    args = {
        "size1": v["size1"],
        "size2": v["size2"],
        "root1": _b64(v["root1"]),
        "root2": _b64(v["root2"]),
        "proof": [_b64(p) for p in v["proof"] or []],
    }
    if v["wantErr"]:
        with pytest.raises(LogVerificationError) as caught:
            verify_consistency(**args)
        assert caught.value.message
    else:
        verify_consistency(**args)


def test_vectors_are_present() -> None:
    require_vectors("merkle", "inclusion", "consistency")
    assert len(_vector_files("inclusion")) >= 40
    assert len(_vector_files("consistency")) >= 40


# ---------------------------------------------------------------- RFC 9162 §2.1, literally


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


class _MemoryReader:
    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]

    def node(self, level: int, index: int) -> bytes:
        while len(self.levels) <= level:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )
        return self.levels[level][index]


LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(130)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 65, 127, 130])
def test_construction_matches_the_rfc_definitions(size: int) -> None:
    leaves = LEAVES[:size]
    reader = _MemoryReader(leaves)
    root = _mth(leaves)
    assert tree_root(reader, size) == root == root_from_leaf_hashes(leaves)
    for m in range(size):
        proof = inclusion_proof(reader, m, size)
        assert proof == _path(m, leaves)
        verify_inclusion(leaf_hash=leaves[m], index=m, size=size, proof=proof, root=root)
    for m in range(1, size + 1):
        proof = consistency_proof(reader, m, size)
        assert proof == (_subproof(m, leaves, True) if m < size else [])
        verify_consistency(size1=m, size2=size, root1=_mth(leaves[:m]), root2=root, proof=proof)


def test_wrong_proof_lengths_are_named() -> None:
    reader = _MemoryReader(LEAVES)
    proof = inclusion_proof(reader, 5, 100)
    root = _mth(LEAVES[:100])
    with pytest.raises(InvalidProof, match=f"has {len(proof) - 1} nodes, want {len(proof)}"):
        verify_inclusion(leaf_hash=LEAVES[5], index=5, size=100, proof=proof[:-1], root=root)
    with pytest.raises(InvalidProof, match=f"has {len(proof) + 1} nodes"):
        verify_inclusion(
            leaf_hash=LEAVES[5], index=5, size=100, proof=[*proof, proof[0]], root=root
        )
    with pytest.raises(InvalidProof, match="proof node 1 is 31 bytes"):
        verify_inclusion(
            leaf_hash=LEAVES[5], index=5, size=100, proof=[proof[0], proof[1][:31]], root=root
        )
    with pytest.raises(InvalidProof, match="outside a tree of size 100"):
        verify_inclusion(leaf_hash=LEAVES[5], index=100, size=100, proof=proof, root=root)


def test_a_wrong_leaf_or_root_is_a_root_mismatch() -> None:
    reader = _MemoryReader(LEAVES)
    proof = inclusion_proof(reader, 3, 50)
    root = _mth(LEAVES[:50])
    with pytest.raises(RootMismatch, match="leaf 3"):
        verify_inclusion(leaf_hash=LEAVES[4], index=3, size=50, proof=proof, root=root)
    cproof = consistency_proof(reader, 20, 50)
    with pytest.raises(RootMismatch, match="at size 20"):
        verify_consistency(size1=20, size2=50, root1=_mth(LEAVES[:21]), root2=root, proof=cproof)
    with pytest.raises(RootMismatch, match="at size 50"):
        verify_consistency(
            size1=20, size2=50, root1=_mth(LEAVES[:20]), root2=EMPTY_ROOT, proof=cproof
        )


def test_a_forked_history_fails_consistency() -> None:
    forked = [*LEAVES[:10], leaf_hash(b"rewritten"), *LEAVES[11:40]]
    proof = consistency_proof(_MemoryReader(forked), 20, 40)
    with pytest.raises(RootMismatch):
        verify_consistency(
            size1=20, size2=40, root1=_mth(LEAVES[:20]), root2=_mth(forked), proof=proof
        )


def test_equal_sizes_with_different_roots_are_refused() -> None:
    with pytest.raises(RootMismatch, match="two different roots for size 8"):
        verify_consistency(
            size1=8, size2=8, root1=_mth(LEAVES[:8]), root2=_mth(LEAVES[1:9]), proof=[]
        )
    with pytest.raises(InvalidProof, match="smaller than size1"):
        verify_consistency(size1=9, size2=8, root1=EMPTY_ROOT, root2=EMPTY_ROOT, proof=[])


@pytest.mark.parametrize("root1", [EMPTY_ROOT, _mth(LEAVES[:3]), b"\x07" * 32])
def test_a_proof_from_the_empty_tree_is_refused_whatever_root1(root1: bytes) -> None:
    """Regression: size1 = 0 with an empty proof was accepted for any root1. RFC 9162
    defines no proof from the empty tree; transparency-dev/merkle requires 0 < size1."""
    root2 = _mth(LEAVES[:8])
    with pytest.raises(EmptyTreeConsistency, match=r"from the empty tree .* 0 < size1"):
        verify_consistency(size1=0, size2=8, root1=root1, root2=root2, proof=[])
    proof = consistency_proof(_MemoryReader(LEAVES), 1, 8)
    with pytest.raises(EmptyTreeConsistency):
        verify_consistency(size1=0, size2=8, root1=root1, root2=root2, proof=proof)
    assert issubclass(EmptyTreeConsistency, InvalidProof)


def test_no_proof_is_built_from_the_empty_tree() -> None:
    reader = _MemoryReader(LEAVES)
    with pytest.raises(EmptyTreeConsistency, match="no consistency proof from the empty tree"):
        consistency_proof(reader, 0, 5)
    # Equal sizes, 0 included, stay trivially consistent with an empty proof.
    assert consistency_proof(reader, 0, 0) == []
    verify_consistency(size1=0, size2=0, root1=EMPTY_ROOT, root2=EMPTY_ROOT, proof=[])
    with pytest.raises(RootMismatch, match="two different roots for size 0"):
        verify_consistency(size1=0, size2=0, root1=EMPTY_ROOT, root2=LEAVES[0], proof=[])


def test_frontier_appends_and_round_trips() -> None:
    rng = random.Random(7)
    frontier = CompactRange()
    assert frontier.root() == EMPTY_ROOT
    for size in range(1, 130):
        frontier.append(LEAVES[size - 1])
        assert frontier.size == size
        assert len(frontier.hashes) == size.bit_count()
        assert frontier.root() == _mth(LEAVES[:size])
        if rng.random() < 0.2:
            frontier = CompactRange.from_bytes(frontier.to_bytes())
    copy = frontier.copy()
    copy.append(LEAVES[0])
    assert copy.size == frontier.size + 1


def test_frontier_refuses_bad_state() -> None:
    with pytest.raises(ValueError, match="has 2 hashes"):
        CompactRange(3, [LEAVES[0]])
    with pytest.raises(ValueError, match="wrong length"):
        CompactRange.from_bytes((3).to_bytes(8, "big") + LEAVES[0])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange(1, [b"short"])
