"""The Merkle-Patricia wrapper (anima_verify.chain._trie) over tries of every shape
hypothesis draws: short values (nodes embedded in their parents), long ones, shared
prefixes, one key or hundreds. A proof of a present key gives its value, of an absent
key b"", and a proof missing any hashed node fails as InvalidTrieProof."""

from __future__ import annotations

import pytest
import rlp
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from anima_verify.chain._trie import EMPTY_TRIE_ROOT, ordered_trie_root, proven_value
from anima_verify.chain.errors import InvalidTrieProof

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)
#: 32-byte keys: random ones, and ones sharing long prefixes (deep extension nodes).
keys = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 255).map(lambda i: bytes(31) + bytes([i])),
)
values = st.binary(min_size=1, max_size=70)


def _proof(trie: HexaryTrie, key: bytes) -> list[bytes]:
    """The key's path as eth_getProof sends it: each node RLP-encoded."""
    return [rlp.encode(node) for node in trie.get_proof(key)]  # type: ignore[no-untyped-call]


@FAST
@given(items=st.dictionaries(keys, values, min_size=1, max_size=60), absent=keys)
def test_present_and_absent_keys_prove_their_value(
    items: dict[bytes, bytes], absent: bytes
) -> None:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    root = trie.root_hash
    for key, value in items.items():
        assert proven_value(root, key, _proof(trie, key)) == value
    if absent not in items:
        assert proven_value(root, absent, _proof(trie, absent)) == b""


@FAST
@given(items=st.dictionaries(keys, values, min_size=2, max_size=60))
def test_a_proof_missing_a_hashed_node_fails(items: dict[bytes, bytes]) -> None:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    key = next(iter(items))
    proof = _proof(trie, key)
    for index, node in enumerate(proof):
        if len(node) < 32:
            continue  # embedded in its parent: not looked up by hash
        with pytest.raises(InvalidTrieProof):
            proven_value(trie.root_hash, key, proof[:index] + proof[index + 1 :])


def test_the_empty_trie_proves_every_key_absent() -> None:
    assert ordered_trie_root([]) == EMPTY_TRIE_ROOT
    assert proven_value(EMPTY_TRIE_ROOT, keccak(b"any"), []) == b""


@FAST
@given(items=st.lists(values, max_size=40))
def test_an_ordered_root_proves_each_index(items: list[bytes]) -> None:
    root = ordered_trie_root(items)
    trie = HexaryTrie({})
    for index, value in enumerate(items):
        trie[rlp.encode(index)] = value
    assert root == trie.root_hash
    for index, value in enumerate(items):
        assert proven_value(root, rlp.encode(index), _proof(trie, rlp.encode(index))) == value
