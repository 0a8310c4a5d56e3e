"""A block's receipts and logs, proven by the header's receipts root.

Each receipt is re-encoded from its JSON-RPC fields (EIP-2718: a typed receipt
is its type byte followed by the RLP list [status, cumulative gas, bloom, logs];
a legacy one is the list alone), the list rebuilds the receipts trie, and its
root must equal the verified header's. A receipt or log altered, added, dropped
or reordered changes the root; so logs taken from these receipts are the chain's.
Fields the root does not commit to (transaction hash, log indexes) are not taken
from the node: log indexes are counted here, and transaction hashes come from
verify_transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp

from anima_verify.chain import _fields
from anima_verify.chain._trie import ordered_trie_root
from anima_verify.chain.errors import MalformedChainData, ReceiptsRootMismatch, shown
from anima_verify.chain.header import BlockHeader

#: EIP-2718 types whose receipts this library encodes: legacy, EIP-2930, EIP-1559,
#: EIP-4844 and EIP-7702 (all share the same receipt payload).
RECEIPT_TYPES = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True, kw_only=True)
class Log:
    """One event, from a verified receipt. `log_index` is its position in the block."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    log_index: int
    transaction_index: int


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """A transaction's outcome in a verified block. `status` is 1 (success) or 0
    (reverted); pre-Byzantium receipts carry a `post_state` root instead."""

    transaction_index: int
    tx_type: int
    status: int | None
    post_state: bytes | None
    cumulative_gas_used: int
    gas_used: int
    logs_bloom: bytes
    logs: tuple[Log, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == 1


def _tx_type(receipt: Mapping[str, Any], what: str) -> int:
    tx_type = _fields.quantity(receipt.get("type", "0x0"), f"{what}.type", bits=8)
    if tx_type not in RECEIPT_TYPES:
        raise MalformedChainData(f"{what} has transaction type {tx_type}, not one of 0-4")
    return tx_type


def _parse_logs(
    value: object, what: str, *, first_index: int, transaction_index: int
) -> tuple[Log, ...]:
    logs = []
    for i, item in enumerate(_fields.sequence(value, f"{what}.logs")):
        where = f"{what}.logs[{i}]"
        log = _fields.mapping(item, where)
        topics = _fields.sequence(_fields.field(log, "topics", where), f"{where}.topics")
        if len(topics) > 4:
            raise MalformedChainData(f"{where} has {len(topics)} topics; a log has at most 4")
        logs.append(
            Log(
                address=_fields.data_field(log, "address", where, size=20),
                topics=tuple(
                    _fields.data(t, f"{where}.topics[{j}]", size=32) for j, t in enumerate(topics)
                ),
                data=_fields.data_field(log, "data", where),
                log_index=first_index + i,
                transaction_index=transaction_index,
            )
        )
    return tuple(logs)


def encode_receipt(receipt: Receipt) -> bytes:
    """The consensus encoding of a receipt: the value stored in the receipts trie."""
    outcome: bytes | int = (
        receipt.post_state if receipt.post_state is not None else receipt.status or 0
    )
    payload = rlp.encode(
        [
            outcome,
            receipt.cumulative_gas_used,
            receipt.logs_bloom,
            [[log.address, list(log.topics), log.data] for log in receipt.logs],
        ]
    )
    return bytes(payload) if receipt.tx_type == 0 else bytes([receipt.tx_type]) + payload


def parse_receipts(
    rpc_receipts: Sequence[Any], *, block_hash: bytes | None = None
) -> list[Receipt]:
    """Receipts from JSON-RPC (`eth_getBlockReceipts`, or `eth_getTransactionReceipt`
    for each transaction in order), checked for shape, order and block only."""
    receipts: list[Receipt] = []
    previous_cumulative = 0
    log_count = 0
    for index, item in enumerate(_fields.sequence(rpc_receipts, "receipts")):
        what = f"receipts[{index}]"
        receipt = _fields.mapping(item, what)
        position = _fields.quantity_field(receipt, "transactionIndex", what, bits=64)
        if position != index:
            raise ReceiptsRootMismatch(f"{what} is for transaction {position}: out of order")
        if block_hash is not None and receipt.get("blockHash") is not None:
            claimed_block = _fields.data_field(receipt, "blockHash", what, size=32)
            if claimed_block != block_hash:
                raise ReceiptsRootMismatch(
                    f"{what} is from block {shown(claimed_block)}, not {shown(block_hash)}"
                )
        if receipt.get("root") is not None:
            status, post_state = None, _fields.data_field(receipt, "root", what, size=32)
        else:
            status, post_state = _fields.quantity_field(receipt, "status", what, bits=8), None
            if status not in (0, 1):
                raise MalformedChainData(f"{what}.status is {status}, not 0 or 1")
        cumulative = _fields.quantity_field(receipt, "cumulativeGasUsed", what, bits=64)
        if cumulative < previous_cumulative:
            raise ReceiptsRootMismatch(f"{what}'s cumulative gas goes down")
        logs = _parse_logs(
            _fields.field(receipt, "logs", what),
            what,
            first_index=log_count,
            transaction_index=index,
        )
        receipts.append(
            Receipt(
                transaction_index=index,
                tx_type=_tx_type(receipt, what),
                status=status,
                post_state=post_state,
                cumulative_gas_used=cumulative,
                gas_used=cumulative - previous_cumulative,
                logs_bloom=_fields.data_field(receipt, "logsBloom", what, size=256),
                logs=logs,
            )
        )
        previous_cumulative = cumulative
        log_count += len(logs)
    return receipts


def verify_receipts(header: BlockHeader, rpc_receipts: Sequence[Any]) -> list[Receipt]:
    """All of a verified block's receipts, once they rebuild its receipts root."""
    receipts = parse_receipts(rpc_receipts, block_hash=header.hash)
    root = ordered_trie_root([encode_receipt(r) for r in receipts])
    if root != header.receipts_root:
        raise ReceiptsRootMismatch(
            f"block {header.number}: {len(receipts)} receipts rebuild the root {shown(root)},"
            f" the header has {shown(header.receipts_root)}"
        )
    return receipts


def verified_logs(receipts: Sequence[Receipt]) -> list[Log]:
    """Every log of verified receipts, in block order."""
    return [log for receipt in receipts for log in receipt.logs]
