"""Accounts, storage and code proven against a verified state root (EIP-1186).

`eth_getProof` answers with the account's fields, a Merkle-Patricia proof of the
account under keccak(address) in the state trie, and per slot a proof under
keccak(slot) in the account's storage trie. The node's claimed fields are
believed only when they equal what the proof proves; an absent account (or
slot) is proven by a proof that ends without it and means the empty account
(or zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils.crypto import keccak
from rlp.exceptions import RLPException

from anima_verify.chain import _fields
from anima_verify.chain._trie import EMPTY_TRIE_ROOT, proven_value
from anima_verify.chain.errors import (
    CodeHashMismatch,
    InvalidTrieProof,
    MalformedChainData,
    ProvenValueMismatch,
    shown,
)

#: keccak256(b""): the code hash of an account without code.
EMPTY_CODE_HASH = keccak(b"")
_ZERO_HASH = bytes(32)


@dataclass(frozen=True, kw_only=True)
class Account:
    """An account's state as the state trie holds it."""

    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes

    @property
    def is_empty(self) -> bool:
        return (
            self.nonce == 0
            and self.balance == 0
            and self.storage_root == EMPTY_TRIE_ROOT
            and self.code_hash == EMPTY_CODE_HASH
        )


EMPTY_ACCOUNT = Account(nonce=0, balance=0, storage_root=EMPTY_TRIE_ROOT, code_hash=EMPTY_CODE_HASH)


def _proof_nodes(value: object, what: str) -> list[bytes]:
    nodes = _fields.sequence(value, what)
    return [_fields.data(node, f"{what}[{i}]") for i, node in enumerate(nodes)]


def _rlp_int(raw: object, what: str) -> int:
    """An RLP-decoded integer: bytes without leading zeros (consensus rules)."""
    if not isinstance(raw, bytes) or raw[:1] == b"\x00" or len(raw) > 32:
        raise InvalidTrieProof(f"{what} in the proven value is not a canonical integer")
    return int.from_bytes(raw, "big")


def _decode_account(encoded: bytes) -> Account:
    try:
        fields = rlp.decode(encoded)
    except RLPException:
        raise InvalidTrieProof("the proven account is not RLP") from None
    if not isinstance(fields, list) or len(fields) != 4:
        raise InvalidTrieProof("the proven account is not [nonce, balance, root, code hash]")
    nonce, balance, storage_root, code_hash = fields
    if not (isinstance(storage_root, bytes) and len(storage_root) == 32):
        raise InvalidTrieProof("the proven account's storage root is not 32 bytes")
    if not (isinstance(code_hash, bytes) and len(code_hash) == 32):
        raise InvalidTrieProof("the proven account's code hash is not 32 bytes")
    return Account(
        nonce=_rlp_int(nonce, "the nonce"),
        balance=_rlp_int(balance, "the balance"),
        storage_root=storage_root,
        code_hash=code_hash,
    )


def _claimed_account(response: Mapping[str, Any]) -> Account:
    what = "eth_getProof result"
    return Account(
        nonce=_fields.quantity_field(response, "nonce", what, bits=64),
        balance=_fields.quantity_field(response, "balance", what),
        storage_root=_fields.data_field(response, "storageHash", what, size=32),
        code_hash=_fields.data_field(response, "codeHash", what, size=32),
    )


def _claims_absence(claimed: Account) -> bool:
    """Nodes describe an absent account as the empty one, some with zero hashes."""
    return (
        claimed.nonce == 0
        and claimed.balance == 0
        and claimed.storage_root in (EMPTY_TRIE_ROOT, _ZERO_HASH)
        and claimed.code_hash in (EMPTY_CODE_HASH, _ZERO_HASH)
    )


def verify_account_proof(
    state_root: bytes, address: bytes, eip1186_response: Mapping[str, Any]
) -> Account:
    """The account at the 20-byte `address` under a verified `state_root`, from an
    `eth_getProof` result; the empty account when the proof shows it absent.

    Refuses a result for another address, a proof that does not hold, and any
    claimed field (nonce, balance, storageHash, codeHash) that differs from the
    proven one. Storage proofs in the result are checked with verify_storage_proof
    against the returned account's storage_root.
    """
    if len(address) != 20:
        raise MalformedChainData(f"an address is 20 bytes, got {len(address)}")
    response = _fields.mapping(eip1186_response, "eth_getProof result")
    answered = _fields.data_field(response, "address", "eth_getProof result", size=20)
    if answered != address:
        raise ProvenValueMismatch(
            f"asked for the account {shown(address)}, the node answered for {shown(answered)}",
            field="address",
        )
    claimed = _claimed_account(response)
    nodes = _proof_nodes(
        _fields.field(response, "accountProof", "eth_getProof result"), "accountProof"
    )
    encoded = proven_value(state_root, keccak(address), nodes)
    if not encoded:
        if not _claims_absence(claimed):
            raise ProvenValueMismatch(
                f"the proof shows account {shown(address)} absent, the node claims"
                f" nonce {claimed.nonce} and balance {claimed.balance}",
                field="account",
            )
        return EMPTY_ACCOUNT
    proven = _decode_account(encoded)
    for name in ("nonce", "balance", "storage_root", "code_hash"):
        if getattr(claimed, name) != getattr(proven, name):
            raise ProvenValueMismatch(
                f"account {shown(address)}: the node claims {name}"
                f" {shown(getattr(claimed, name))}, the proof says {shown(getattr(proven, name))}",
                field=name,
            )
    return proven


def verify_storage_proof(storage_root: bytes, slot: int, proof_entry: Mapping[str, Any]) -> int:
    """The value of storage `slot` under a proven account's `storage_root`, from one
    entry of `eth_getProof`'s storageProof; 0 when the proof shows the slot absent.

    Refuses an entry for another slot, a proof that does not hold, and a claimed
    value that differs from the proven one.
    """
    if not 0 <= slot < 1 << 256:
        raise MalformedChainData(f"a storage slot is a 256-bit number, got {shown(slot)}")
    entry = _fields.mapping(proof_entry, "storageProof entry")
    answered = _fields.slot_key(
        _fields.field(entry, "key", "storageProof entry"), "storageProof entry.key"
    )
    key = slot.to_bytes(32, "big")
    if answered != key:
        raise ProvenValueMismatch(
            f"asked for slot {shown(key)}, the node answered for {shown(answered)}", field="key"
        )
    claimed = _fields.quantity_field(entry, "value", "storageProof entry")
    nodes = _proof_nodes(
        _fields.field(entry, "proof", "storageProof entry"), "storageProof entry.proof"
    )
    encoded = proven_value(storage_root, keccak(key), nodes)
    if encoded:
        try:
            raw = rlp.decode(encoded)
        except RLPException:
            raise InvalidTrieProof("the proven storage value is not RLP") from None
        proven = _rlp_int(raw, "the storage value")
        if proven == 0:
            raise InvalidTrieProof("a zero storage value is stored as absence, never as 0")
    else:
        proven = 0
    if claimed != proven:
        raise ProvenValueMismatch(
            f"slot {shown(key)}: the node claims {shown(claimed)}, the proof says {shown(proven)}",
            field="value",
        )
    return proven


def verify_code(code_hash: bytes, code: bytes) -> bytes:
    """`code`, once its keccak-256 equals a proven account's `code_hash`."""
    actual = keccak(code)
    if actual != code_hash:
        raise CodeHashMismatch(
            f"the code ({len(code)} bytes) hashes to {shown(actual)}, the account's code hash"
            f" is {shown(code_hash)}"
        )
    return code
