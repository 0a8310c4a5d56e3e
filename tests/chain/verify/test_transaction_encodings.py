"""encode_transaction agrees with eth-account (an independent, maintained encoder) on
every type it signs, including EIP-4844 blob transactions, which anvil cannot mine
here without KZG blob sidecars: the JSON-RPC object a node would return for the
signed transaction re-encodes to the same bytes and hash."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from anima_verify.chain._trie import ordered_trie_root
from anima_verify.chain.errors import MalformedChainData
from anima_verify.chain.header import verify_header
from anima_verify.chain.transactions import encode_transaction, verify_transactions
from anima_verify.eth import SECP256K1_ORDER
from tests.chain.verify.devchain import DEV_ACCOUNT_2_KEY
from tests.chain.verify.record_vectors import load

#: A real header whose transactions root the tests replace with their own.
_ANY_HEADER = verify_header(load()["block"])

TO = to_checksum_address("0x" + "ab" * 20)
ACCESS = [{"address": to_checksum_address("0x" + "cd" * 20), "storageKeys": ["0x" + "01" * 32]}]
BASE = {"chainId": 31337, "nonce": 5, "gas": 100_000, "value": 7, "data": "0x1234"}
FEES = {"maxPriorityFeePerGas": 10**9, "maxFeePerGas": 3 * 10**9}
CASES: dict[str, dict[str, Any]] = {
    "legacy": {**BASE, "gasPrice": 2 * 10**9, "to": TO},
    "legacy-eip155-creation": {**BASE, "gasPrice": 2 * 10**9, "to": ""},
    "access-list": {**BASE, "type": 1, "gasPrice": 2 * 10**9, "to": TO, "accessList": ACCESS},
    "dynamic-fee": {**BASE, **FEES, "type": 2, "to": TO, "accessList": ACCESS},
    "dynamic-fee-creation": {**BASE, **FEES, "type": 2},
    "blob": {
        **BASE,
        **FEES,
        "type": 3,
        "to": TO,
        "accessList": ACCESS,
        "maxFeePerBlobGas": 10**9,
        "blobVersionedHashes": ["0x01" + "aa" * 31, "0x01" + "bb" * 31],
    },
}


def _as_rpc(tx: dict[str, Any], signed: Any) -> dict[str, Any]:
    """The transaction as eth_getBlockByNumber(n, true) shows it."""
    rpc: dict[str, Any] = {
        "type": hex(tx.get("type", 0)),
        "nonce": hex(tx["nonce"]),
        "gas": hex(tx["gas"]),
        "value": hex(tx["value"]),
        "input": tx["data"],
        "to": tx.get("to") or None,
        "r": hex(signed.r),
        "s": hex(signed.s),
        "v": hex(signed.v),
        "hash": "0x" + signed.hash.hex(),
    }
    for name in ("chainId", "gasPrice", "maxPriorityFeePerGas", "maxFeePerGas", "maxFeePerBlobGas"):
        if name in tx:
            rpc[name] = hex(tx[name])
    if "type" in tx:
        rpc["yParity"] = hex(signed.v)
    for name in ("accessList", "blobVersionedHashes"):
        if name in tx:
            rpc[name] = tx[name]
    return rpc


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_encoding_matches_eth_account(case: str) -> None:
    tx = CASES[case]
    signed = Account.sign_transaction(tx, DEV_ACCOUNT_2_KEY)
    rpc = _as_rpc(tx, signed)
    encoded = encode_transaction(rpc)
    assert encoded == bytes(signed.raw_transaction)
    assert keccak(encoded) == bytes(signed.hash)
    assert _sender(rpc) == Account.from_key(DEV_ACCOUNT_2_KEY).address.lower()


def _sender(rpc: dict[str, Any]) -> str:
    """The sender verify_transactions recovers, through a one-transaction block."""
    encoded = encode_transaction(rpc)
    header = replace(_ANY_HEADER, transactions_root=ordered_trie_root([encoded]))
    (tx,) = verify_transactions(header, [rpc])
    return "0x" + tx.sender.hex()


def test_a_pre_eip155_signature_recovers_too() -> None:
    """v = 27/28: no chain id in the signing payload (still accepted by nodes)."""
    tx = {k: v for k, v in CASES["legacy"].items() if k != "chainId"}
    signed = Account.sign_transaction(tx, DEV_ACCOUNT_2_KEY)
    rpc = _as_rpc(tx, signed)
    assert signed.v in (27, 28)
    assert _sender(rpc) == Account.from_key(DEV_ACCOUNT_2_KEY).address.lower()


def test_a_high_s_or_bad_v_signature_is_refused() -> None:
    signed = Account.sign_transaction(CASES["dynamic-fee"], DEV_ACCOUNT_2_KEY)
    rpc = _as_rpc(CASES["dynamic-fee"], signed)
    rpc["s"] = hex(SECP256K1_ORDER - signed.s)  # the malleated twin (EIP-2)
    rpc["hash"] = "0x" + keccak(encode_transaction(rpc)).hex()
    with pytest.raises(MalformedChainData, match="signature is invalid"):
        _sender(rpc)
    legacy = _as_rpc(CASES["legacy"], Account.sign_transaction(CASES["legacy"], DEV_ACCOUNT_2_KEY))
    legacy["v"] = "0x1"
    legacy["hash"] = "0x" + keccak(encode_transaction(legacy)).hex()
    with pytest.raises(MalformedChainData, match="neither 27/28 nor EIP-155"):
        _sender(legacy)


def test_a_blob_transaction_without_its_hashes_is_refused() -> None:
    signed = Account.sign_transaction(CASES["blob"], DEV_ACCOUNT_2_KEY)
    rpc = _as_rpc(CASES["blob"], signed)
    del rpc["blobVersionedHashes"]
    with pytest.raises(MalformedChainData, match="blobVersionedHashes"):
        encode_transaction(rpc)
