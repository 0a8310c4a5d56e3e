"""A block's transactions, proven by the header's transactions root.

Each transaction is re-encoded from its JSON-RPC fields in its EIP-2718
envelope (legacy; 0x01 EIP-2930; 0x02 EIP-1559; 0x03 EIP-4844 blob; 0x04
EIP-7702 set-code), its keccak-256 must equal the hash the node gave, and the
list must rebuild the header's transactions root. So a caller that knows the
hash of a transaction it sent proves its inclusion, and its index finds its
receipt among verify_receipts' answer. The sender is recovered from the signature
(anima_verify.eth: canonical, low-s signatures, as every fork since Homestead
requires), never taken from the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import rlp
from eth_utils.crypto import keccak

from anima_verify.chain import _fields
from anima_verify.chain._trie import ordered_trie_root
from anima_verify.chain.errors import (
    MalformedChainData,
    ProvenValueMismatch,
    TransactionsRootMismatch,
    shown,
)
from anima_verify.chain.header import BlockHeader
from anima_verify.eth import InvalidEthereumSignature, recover_address

_Field = bytes | int | list[Any]


@dataclass(frozen=True, kw_only=True)
class Transaction:
    """A transaction included in a verified block. `to` is None for a contract creation;
    `sender` is recovered from the signature."""

    index: int
    hash: bytes
    tx_type: int
    sender: bytes
    nonce: int
    to: bytes | None
    value: int
    input: bytes
    encoded: bytes


class _Reader:
    """Reads one JSON-RPC transaction's fields, naming it in errors."""

    def __init__(self, tx: Mapping[str, Any], what: str) -> None:
        self.tx = tx
        self.what = what

    def q(self, name: str, bits: int = 256) -> int:
        return _fields.quantity_field(self.tx, name, self.what, bits=bits)

    def d(self, name: str, size: int | None = None) -> bytes:
        return _fields.data_field(self.tx, name, self.what, size=size)

    def to(self) -> bytes:
        value = self.tx.get("to")
        return b"" if value is None else self.d("to", 20)

    def y_parity(self) -> int:
        name = "yParity" if self.tx.get("yParity") is not None else "v"
        parity = self.q(name, bits=8)
        if parity > 1:
            raise MalformedChainData(f"{self.what}.{name} is {parity}, not a y parity (0 or 1)")
        return parity

    def access_list(self) -> list[Any]:
        entries = _fields.sequence(self.tx.get("accessList", []), f"{self.what}.accessList")
        encoded = []
        for i, item in enumerate(entries):
            where = f"{self.what}.accessList[{i}]"
            entry = _fields.mapping(item, where)
            keys = _fields.sequence(_fields.field(entry, "storageKeys", where), where)
            encoded.append(
                [
                    _fields.data_field(entry, "address", where, size=20),
                    [_fields.data(k, f"{where}.storageKeys", size=32) for k in keys],
                ]
            )
        return encoded

    def authorization_list(self) -> list[Any]:
        entries = _fields.sequence(
            _fields.field(self.tx, "authorizationList", self.what), f"{self.what}.authorizationList"
        )
        encoded = []
        for i, item in enumerate(entries):
            auth = _Reader(
                _fields.mapping(item, "authorization"), f"{self.what}.authorizationList[{i}]"
            )
            encoded.append(
                [
                    auth.q("chainId"),
                    auth.d("address", 20),
                    auth.q("nonce", 64),
                    auth.q("yParity", 8),
                    auth.q("r"),
                    auth.q("s"),
                ]
            )
        return encoded

    def blob_hashes(self) -> list[bytes]:
        hashes = _fields.sequence(
            _fields.field(self.tx, "blobVersionedHashes", self.what),
            f"{self.what}.blobVersionedHashes",
        )
        return [_fields.data(h, f"{self.what}.blobVersionedHashes", size=32) for h in hashes]


def _legacy(t: _Reader) -> list[_Field]:
    return [
        t.q("nonce", 64),
        t.q("gasPrice"),
        t.q("gas", 64),
        t.to(),
        t.q("value"),
        t.d("input"),
        t.q("v"),
        t.q("r"),
        t.q("s"),
    ]


def _access_list_tx(t: _Reader) -> list[_Field]:
    return [
        t.q("chainId"),
        t.q("nonce", 64),
        t.q("gasPrice"),
        t.q("gas", 64),
        t.to(),
        t.q("value"),
        t.d("input"),
        t.access_list(),
        t.y_parity(),
        t.q("r"),
        t.q("s"),
    ]


def _dynamic_fee_head(t: _Reader) -> list[_Field]:
    return [
        t.q("chainId"),
        t.q("nonce", 64),
        t.q("maxPriorityFeePerGas"),
        t.q("maxFeePerGas"),
        t.q("gas", 64),
        t.to(),
        t.q("value"),
        t.d("input"),
        t.access_list(),
    ]


def _signature(t: _Reader) -> list[_Field]:
    return [t.y_parity(), t.q("r"), t.q("s")]


def _dynamic_fee_tx(t: _Reader) -> list[_Field]:
    return [*_dynamic_fee_head(t), *_signature(t)]


def _blob_tx(t: _Reader) -> list[_Field]:
    return [*_dynamic_fee_head(t), t.q("maxFeePerBlobGas"), t.blob_hashes(), *_signature(t)]


def _set_code_tx(t: _Reader) -> list[_Field]:
    return [*_dynamic_fee_head(t), t.authorization_list(), *_signature(t)]


_ENCODERS: dict[int, Callable[[_Reader], list[_Field]]] = {
    0: _legacy,
    1: _access_list_tx,
    2: _dynamic_fee_tx,
    3: _blob_tx,
    4: _set_code_tx,
}


def _typed_fields(rpc_tx: Mapping[str, Any], what: str) -> tuple[int, list[_Field]]:
    """The transaction's type and its RLP fields, the signature (v or y parity, r, s)
    last."""
    tx = _fields.mapping(rpc_tx, what)
    tx_type = _fields.quantity(tx.get("type", "0x0"), f"{what}.type", bits=8)
    encoder = _ENCODERS.get(tx_type)
    if encoder is None:
        raise MalformedChainData(f"{what} has type {tx_type}, not one of 0-4")
    return tx_type, encoder(_Reader(tx, what))


def _envelope(tx_type: int, fields: list[_Field]) -> bytes:
    payload = bytes(rlp.encode(fields))
    return payload if tx_type == 0 else bytes([tx_type]) + payload


def encode_transaction(rpc_tx: Mapping[str, Any], what: str = "transaction") -> bytes:
    """The consensus (EIP-2718) encoding of a JSON-RPC transaction object."""
    return _envelope(*_typed_fields(rpc_tx, what))


def _sender(tx_type: int, fields: list[_Field], what: str) -> bytes:
    """The address that signed the transaction: the signature over its signing
    payload (EIP-155 for legacy transactions with a chain id, EIP-2718 otherwise)."""
    v, r, s = (cast(int, value) for value in fields[-3:])  # _Reader.q made them ints
    unsigned = fields[:-3]
    if tx_type != 0:
        parity = v
    elif v in (27, 28):  # before EIP-155: no chain id
        parity = v - 27
    elif v >= 35:
        parity = (v - 35) % 2
        unsigned = [*unsigned, (v - 35) // 2, 0, 0]
    else:
        raise MalformedChainData(f"{what}.v is {v}: neither 27/28 nor EIP-155")
    digest = keccak(_envelope(tx_type, unsigned))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + parity])
    try:
        return bytes.fromhex(recover_address(digest, signature)[2:])
    except InvalidEthereumSignature as bad:
        raise MalformedChainData(f"{what}'s signature is invalid: {bad.message}") from None


def verify_transactions(header: BlockHeader, rpc_txs: Sequence[Any]) -> list[Transaction]:
    """All of a verified block's transactions (full objects, as eth_getBlockByNumber(n,
    true) gives them), once each hashes to its claimed hash and together they rebuild
    the header's transactions root. Each one's sender is recovered from its signature
    and must equal the node's `from`, when given."""
    verified: list[Transaction] = []
    for index, item in enumerate(_fields.sequence(rpc_txs, "transactions")):
        what = f"transactions[{index}]"
        tx = _fields.mapping(item, what)
        tx_type, fields = _typed_fields(tx, what)
        encoded = _envelope(tx_type, fields)
        tx_hash = keccak(encoded)
        claimed = _fields.data_field(tx, "hash", what, size=32)
        if claimed != tx_hash:
            raise TransactionsRootMismatch(
                f"{what}'s fields hash to {shown(tx_hash)}, the node says {shown(claimed)}"
            )
        sender = _sender(tx_type, fields, what)
        if tx.get("from") is not None:
            claimed_sender = _fields.data_field(tx, "from", what, size=20)
            if claimed_sender != sender:
                raise ProvenValueMismatch(
                    f"{what} is signed by {shown(sender)}, the node says {shown(claimed_sender)}",
                    field="from",
                )
        reader = _Reader(tx, what)
        to = reader.to()
        verified.append(
            Transaction(
                index=index,
                hash=tx_hash,
                tx_type=tx_type,
                sender=sender,
                nonce=reader.q("nonce", 64),
                to=to or None,
                value=reader.q("value"),
                input=reader.d("input"),
                encoded=encoded,
            )
        )
    root = ordered_trie_root([tx.encoded for tx in verified])
    if root != header.transactions_root:
        raise TransactionsRootMismatch(
            f"block {header.number}: {len(verified)} transactions rebuild the root {shown(root)},"
            f" the header has {shown(header.transactions_root)}"
        )
    return verified
