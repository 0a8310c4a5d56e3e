"""The chain service's domain types (no protobuf) and the parsing of what callers give it.

Addresses travel as 20 bytes and are shown EIP-55 checksummed; amounts are ints
(wei) inside and decimal strings on the wire, since uint256 fits no protobuf integer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from anima_chain_api.errors import InvalidChainRequest

UINT256_MAX = 2**256 - 1
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL = re.compile(r"[0-9]{1,78}")
MAX_SLOTS = 64
MAX_LOG_BLOCKS = 256


def parse_address(text: str, field: str = "address") -> bytes:
    """A 0x-prefixed 40-digit hex address; a mixed-case one must carry a valid EIP-55
    checksum (a typo in a checksummed address is caught, not sent money to)."""
    if not isinstance(text, str) or not _HEX_ADDRESS.fullmatch(text):
        raise InvalidChainRequest(f"{field} must be 0x and 40 hex digits, got {text!r:.60}")
    digits = text[2:]
    if digits != digits.lower() and digits != digits.upper() and to_checksum_address(text) != text:
        raise InvalidChainRequest(f"{field} {text} fails its EIP-55 checksum (a typo?)")
    return bytes.fromhex(digits)


def address_bytes(raw: bytes, field: str = "address") -> bytes:
    if len(raw) != 20:
        raise InvalidChainRequest(f"{field} must be 20 bytes, got {len(raw)}")
    return raw


def show_address(raw: bytes) -> str:
    return str(to_checksum_address(raw))


def parse_wei(text: str, field: str = "value") -> int:
    """A decimal uint256 (wei)."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise InvalidChainRequest(f"{field} must be a decimal integer of wei, got {text!r:.80}")
    value = int(text)
    if value > UINT256_MAX:
        raise InvalidChainRequest(f"{field} exceeds 2**256 - 1")
    return value


def slot_bytes(raw: bytes, field: str = "slot") -> int:
    if len(raw) != 32:
        raise InvalidChainRequest(f"{field} must be 32 bytes, got {len(raw)}")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, slots=True)
class BlockRef:
    """The verified block an answer was proven against."""

    number: int
    hash: bytes
    state_root: bytes

    def describe(self) -> str:
        return f"block {self.number} (0x{self.hash.hex()})"


@dataclass(frozen=True, slots=True)
class VerifiedHead:
    block: BlockRef
    chain_id: int
    timestamp: int
    base_fee_per_gas: int
    checkpoint_hash: bytes
    reorgs_seen: int


@dataclass(frozen=True, slots=True)
class ProvenAccount:
    block: BlockRef
    address: bytes
    balance: int
    nonce: int
    storage_root: bytes
    code_hash: bytes


@dataclass(frozen=True, slots=True)
class ProvenStorage:
    block: BlockRef
    address: bytes
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ProvenCode:
    block: BlockRef
    address: bytes
    code: bytes
    code_hash: bytes


@dataclass(frozen=True, slots=True)
class ProvenValue:
    block: BlockRef
    value: int


@dataclass(frozen=True, slots=True)
class LogRecord:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    log_index: int


@dataclass(frozen=True, slots=True)
class BlockLog:
    """A log from a verified receipt, with the block and transaction it came from."""

    block: BlockRef
    transaction_hash: bytes
    log: LogRecord


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    transaction_hash: bytes
    transaction_index: int
    success: bool
    gas_used: int
    cumulative_gas_used: int
    logs: tuple[LogRecord, ...]


@dataclass(frozen=True, slots=True)
class ReceiptAt:
    block: BlockRef
    receipt: VerifiedReceipt


@dataclass(frozen=True, slots=True)
class TransactionIntent:
    """What a caller wants sent; the service picks nonce and fees from verified state."""

    agent_id: str
    to: bytes
    value: int = 0
    data: bytes = b""
    gas_limit: int = 0  # 0: estimated, capped
    idempotency_key: str = ""
    wallet_index: int = 0
    receipt_timeout_ms: int = 0


@dataclass(frozen=True, slots=True)
class TransactionOutcome:
    """A transaction whose inclusion and status were verified against a verified header."""

    block: BlockRef
    receipt: VerifiedReceipt
    sender: bytes
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    signature_log_index: int
    replayed: bool
