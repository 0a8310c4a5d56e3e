"""Merkle-Patricia tries through py-trie (the `trie` package, the Ethereum Python
community's maintained implementation): values proven from a root and a list of
nodes, and the root of an index-keyed list (transactions, receipts).

py-trie raises its own exceptions, rlp's, and on some malformed nodes plain
ValueError/IndexError/TypeError; all of them mean "the proof does not hold", so
they become InvalidTrieProof here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth_utils.crypto import keccak
from rlp.exceptions import RLPException
from trie.exceptions import (
    BadTrieProof,
    InvalidNode,
    MissingTrieNode,
    TraversedPartialPath,
    ValidationError,
)
from trie.hexary import HexaryTrie

from anima_verify.chain.errors import InvalidTrieProof, MalformedChainData, shown

#: keccak256(rlp(b"")): the root of a trie with no keys.
EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))

_PROOF_FAILURES = (
    BadTrieProof,
    InvalidNode,
    MissingTrieNode,
    TraversedPartialPath,
    ValidationError,
    RLPException,
    ValueError,
    IndexError,
    TypeError,
    KeyError,
    RecursionError,
)


def proven_value(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """The value stored under `key` in the trie whose root is `root`, proven by `proof`
    (the RLP-encoded nodes on the key's path); b"" when the proof shows the key absent.

    Nodes are looked up by their keccak-256, so a node the proof altered is simply
    missing and the proof fails; extra nodes are ignored.
    """
    if len(root) != 32:  # py-trie would read a short "root" as an inline node
        raise MalformedChainData(f"a trie root is 32 bytes, got {len(root)}")
    nodes = {keccak(node): node for node in proof}
    try:
        value = HexaryTrie(nodes, root_hash=root).get(key)
    except MissingTrieNode as missing:
        raise InvalidTrieProof(
            f"the proof for key {shown(key)} under root {shown(root)} lacks the node"
            f" {shown(missing.missing_node_hash)}"
        ) from None
    except _PROOF_FAILURES as failure:
        raise InvalidTrieProof(
            f"the proof for key {shown(key)} under root {shown(root)} is malformed"
            f" ({type(failure).__name__})"
        ) from None
    return bytes(value)


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """The root of the trie mapping rlp(i) to values[i]: a block's transactions or
    receipts root."""
    trie = HexaryTrie({})
    with trie.squash_changes() as batch:
        for index, value in enumerate(values):
            batch[rlp.encode(index)] = value
    return bytes(trie.root_hash)
