"""Execution-layer block headers from JSON-RPC, checked by their hash.

A header from `eth_getBlockByNumber` / `eth_getBlockByHash` is re-encoded in RLP
from its fields, in the yellow paper's order plus each fork's appended fields,
and keccak-256 hashed. The hash must equal the block's own `hash` and, when the
caller has one, the hash it trusts; then every field (state root, receipts root,
base fee...) is as the chain has it. Headers from London (base fee, EIP-1559)
through Shanghai (EIP-4895), Cancun (EIP-4844, EIP-4788) and Prague (EIP-7685)
are supported; older and unknown shapes are refused, never guessed.

Hashes prove ancestry, not succession: walking back from a trusted hash
(verify_ancestry) proves each older header, but anyone can build a header whose
parent is a trusted block, so a newer header linked forward with
verify_chain_link is only as good as whoever vouches for it (the beacon light
client, a newer checkpoint). Nothing here checks consensus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import rlp
from eth_utils.crypto import keccak

from anima_verify.chain import _fields
from anima_verify.chain.errors import (
    BrokenChainLink,
    HeaderHashMismatch,
    UnexpectedHeader,
    UnsupportedHeader,
    shown,
)

#: The fields each fork appends after London's base fee, in header order.
_FORK_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("london", ()),
    ("shanghai", ("withdrawalsRoot",)),
    # anvil (1.x) in its London and Shanghai modes appends Cancun's blob-gas fields
    # too; no public chain has these shapes, but the hash binds them like any other.
    ("london-anvil", ("blobGasUsed", "excessBlobGas")),
    ("shanghai-anvil", ("withdrawalsRoot", "blobGasUsed", "excessBlobGas")),
    ("cancun", ("withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot")),
    (
        "prague",
        (
            "withdrawalsRoot",
            "blobGasUsed",
            "excessBlobGas",
            "parentBeaconBlockRoot",
            "requestsHash",
        ),
    ),
)
_OPTIONAL = _FORK_FIELDS[-1][1]


@dataclass(frozen=True, kw_only=True)
class BlockHeader:
    """A header whose fields hash to `hash`. Fields a fork does not have are None."""

    hash: bytes
    fork: str
    parent_hash: bytes
    ommers_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    difficulty: int
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    mix_hash: bytes
    nonce: bytes
    base_fee_per_gas: int
    withdrawals_root: bytes | None = None
    blob_gas_used: int | None = None
    excess_blob_gas: int | None = None
    parent_beacon_block_root: bytes | None = None
    requests_hash: bytes | None = None

    def rlp_fields(self) -> list[bytes | int]:
        """The header's RLP list, in consensus order, up to the last field its fork has."""
        fields: list[bytes | int] = [
            self.parent_hash,
            self.ommers_hash,
            self.coinbase,
            self.state_root,
            self.transactions_root,
            self.receipts_root,
            self.logs_bloom,
            self.difficulty,
            self.number,
            self.gas_limit,
            self.gas_used,
            self.timestamp,
            self.extra_data,
            self.mix_hash,
            self.nonce,
            self.base_fee_per_gas,
        ]
        optional = (
            self.withdrawals_root,
            self.blob_gas_used,
            self.excess_blob_gas,
            self.parent_beacon_block_root,
            self.requests_hash,
        )
        fields.extend(value for value in optional if value is not None)
        return fields

    def encode(self) -> bytes:
        return bytes(rlp.encode(self.rlp_fields()))


def _fork_of(block: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    present = tuple(name for name in _OPTIONAL if block.get(name) is not None)
    for fork, names in _FORK_FIELDS:
        if present == names:
            return fork, names
    raise UnsupportedHeader(
        f"a header with {', '.join(present)} is no known fork's shape"
        " (London, Shanghai, Cancun or Prague)"
    )


def parse_header(rpc_block: Mapping[str, Any]) -> BlockHeader:
    """The header's fields from a JSON-RPC block object, hashed from their RLP encoding.

    Checks shapes only; `verify_header` compares the hash with the claimed ones.
    """
    block = _fields.mapping(rpc_block, "block")
    what = "block"
    if block.get("baseFeePerGas") is None:
        raise UnsupportedHeader("a header without baseFeePerGas predates London: not supported")
    fork, _ = _fork_of(block)

    def h(name: str, size: int = 32) -> bytes:
        return _fields.data_field(block, name, what, size=size)

    def q(name: str) -> int:
        return _fields.quantity_field(block, name, what)

    def optional_hash(name: str) -> bytes | None:
        return h(name) if block.get(name) is not None else None

    def optional_quantity(name: str) -> int | None:
        return q(name) if block.get(name) is not None else None

    unhashed = BlockHeader(
        hash=b"",
        fork=fork,
        parent_hash=h("parentHash"),
        ommers_hash=h("sha3Uncles"),
        coinbase=h("miner", 20),
        state_root=h("stateRoot"),
        transactions_root=h("transactionsRoot"),
        receipts_root=h("receiptsRoot"),
        logs_bloom=h("logsBloom", 256),
        difficulty=q("difficulty"),
        number=_fields.quantity_field(block, "number", what, bits=64),
        gas_limit=_fields.quantity_field(block, "gasLimit", what, bits=64),
        gas_used=_fields.quantity_field(block, "gasUsed", what, bits=64),
        timestamp=_fields.quantity_field(block, "timestamp", what, bits=64),
        extra_data=_fields.data_field(block, "extraData", what),
        mix_hash=h("mixHash"),
        nonce=h("nonce", 8),
        base_fee_per_gas=q("baseFeePerGas"),
        withdrawals_root=optional_hash("withdrawalsRoot"),
        blob_gas_used=optional_quantity("blobGasUsed"),
        excess_blob_gas=optional_quantity("excessBlobGas"),
        parent_beacon_block_root=optional_hash("parentBeaconBlockRoot"),
        requests_hash=optional_hash("requestsHash"),
    )
    return replace(unhashed, hash=keccak(unhashed.encode()))


def verify_header(rpc_block: Mapping[str, Any], expected_hash: bytes | None = None) -> BlockHeader:
    """The block's header, once its RLP encoding hashes to the block's own `hash` and,
    if given, to `expected_hash` (a checkpoint or a verified child's parent hash)."""
    header = parse_header(rpc_block)
    claimed = _fields.data_field(rpc_block, "hash", "block", size=32)
    if header.hash != claimed:
        raise HeaderHashMismatch(
            f"block {header.number}: the header's fields hash to {shown(header.hash)},"
            f" the node says {shown(claimed)}"
        )
    if expected_hash is not None and header.hash != expected_hash:
        raise UnexpectedHeader(
            f"block {header.number} is {shown(header.hash)}, expected {shown(expected_hash)}"
        )
    return header


def verify_chain_link(parent: BlockHeader, child: BlockHeader) -> None:
    """Refuse `child` unless it names `parent` as its parent and follows it by one."""
    if child.parent_hash != parent.hash:
        raise BrokenChainLink(
            f"block {child.number}'s parent is {shown(child.parent_hash)},"
            f" not block {parent.number} {shown(parent.hash)}"
        )
    if child.number != parent.number + 1:
        raise BrokenChainLink(
            f"block {child.number} cannot follow block {parent.number}: numbers must step by one"
        )


def verify_ancestry(trusted_hash: bytes, rpc_blocks: Sequence[Any]) -> list[BlockHeader]:
    """Headers proven by a trusted hash: rpc_blocks[0] must hash to `trusted_hash`,
    and each next block must be the previous one's parent (newest first, no gaps)."""
    headers: list[BlockHeader] = []
    expected = trusted_hash
    for block in _fields.sequence(rpc_blocks, "blocks"):
        header = verify_header(block, expected_hash=expected)
        if headers:
            verify_chain_link(header, headers[-1])
        headers.append(header)
        expected = header.parent_hash
    return headers
