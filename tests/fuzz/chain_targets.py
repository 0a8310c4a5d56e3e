"""The chain-proof parsers under fuzz (anima_verify.chain): JSON-RPC headers,
receipts, transactions and EIP-1186 answers, and raw Merkle-Patricia proof nodes.

Mutations start from the recorded anvil vectors (tests/chain/verify/vectors). The
JSON targets take input that is JSON as it is; any other bytes (most mutations of
JSON text) seed edits of the recorded answer instead: a field dropped, retyped, cut,
lengthened or one hex digit changed, so every input reaches deep into the parser
rather than stopping at json's own errors (which are not the library's). The raw
trie target frames nodes as 2-byte length + node and takes the first node's hash
as the state root, so mutated nodes still reach py-trie's decoder and the account
decoder behind it.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

from eth_utils.crypto import keccak

from anima_verify.chain.header import verify_header
from anima_verify.chain.proofs import verify_account_proof, verify_storage_proof
from anima_verify.chain.receipts import verify_receipts
from anima_verify.chain.transactions import verify_transactions
from tests.chain.verify.record_vectors import load

_VECTORS = load()
_HEADER = verify_header(_VECTORS["block"])
_PROOF = _VECTORS["contract_proof"]
_CONTRACT = bytes.fromhex(_PROOF["address"][2:])


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON value: the places an edit can hit."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            found.extend(_slots(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(_slots(item))
    return found


def _replacement(old: Any, rng: random.Random) -> Any:
    if isinstance(old, str) and len(old) > 2 and rng.random() < 0.5:
        at = rng.randrange(2, len(old))  # one hex digit changed: the subtle lie
        return old[:at] + rng.choice("0123456789abcdefX") + old[at + 1 :]
    return rng.choice(
        [
            None,
            0,
            -1,
            2**300,
            "",
            "0x",
            "0x0",
            "0x" + "f" * 80,
            "0xabc",
            "zz",
            [],
            {},
            [old, old],
            {"x": old},
            "0x" + rng.randbytes(rng.choice((1, 8, 19, 20, 21, 31, 32, 33, 256))).hex(),
        ]
    )


def _edited(seed: Any, data: bytes) -> Any:
    """The seed with one to four edits chosen by the input's bytes."""
    value = copy.deepcopy(seed)
    rng = random.Random(data)
    for _ in range(1 + len(data) % 4):
        slots = _slots(value)
        if not slots:
            break
        container, key = rng.choice(slots)
        if rng.random() < 0.15:
            del container[key]
        else:
            container[key] = _replacement(container[key], rng)
    return value


def _input(data: bytes, seed: Any) -> Any:
    """The input as JSON, or, when it is not JSON, edits of the seed it picks."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError
        return _edited(seed, data)


def _header(data: bytes) -> None:
    verify_header(_input(data, _VECTORS["block"]))


def _receipts(data: bytes) -> None:
    verify_receipts(_HEADER, _input(data, _VECTORS["receipts"]))


def _transactions(data: bytes) -> None:
    verify_transactions(_HEADER, _input(data, _VECTORS["block"]["transactions"]))


def _account_proof(data: bytes) -> None:
    answer = _input(data, _PROOF)
    account = verify_account_proof(_HEADER.state_root, _CONTRACT, answer)
    entries = answer.get("storageProof", [])  # a missing list is not the parser's concern
    for slot, entry in zip((3, 4), entries if isinstance(entries, list) else [], strict=False):
        verify_storage_proof(account.storage_root, slot, entry)


def _frame(nodes: list[bytes]) -> bytes:
    return b"".join(len(node).to_bytes(2, "big") + node for node in nodes)


def _unframe(data: bytes) -> list[bytes]:
    nodes, at = [], 0
    while at + 2 <= len(data):
        size = int.from_bytes(data[at : at + 2], "big")
        nodes.append(data[at + 2 : at + 2 + size])
        at += 2 + size
    return nodes


def _trie_proof(data: bytes) -> None:
    nodes = _unframe(data)
    root = keccak(nodes[0]) if nodes else bytes(32)
    answer = {**_PROOF, "accountProof": ["0x" + node.hex() for node in nodes]}
    verify_account_proof(root, _CONTRACT, answer)


def _seed(value: object) -> bytes:
    return json.dumps(value).encode()


def chain_targets() -> list[tuple[str, Callable[[bytes], None], tuple[bytes, ...]]]:
    """(name, parser, valid seeds) for targets.py."""
    block = _VECTORS["block"]
    account_nodes = [bytes.fromhex(n[2:]) for n in _PROOF["accountProof"]]
    return [
        ("chain_header", _header, (_seed(block), _seed({**block, "transactions": []}))),
        ("chain_receipts", _receipts, (_seed(_VECTORS["receipts"]),)),
        ("chain_transactions", _transactions, (_seed(block["transactions"]),)),
        ("chain_account_proof", _account_proof, (_seed(_PROOF),)),
        ("chain_trie_proof", _trie_proof, (_frame(account_nodes),)),
    ]
