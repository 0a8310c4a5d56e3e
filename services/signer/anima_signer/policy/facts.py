"""What a rule sees of a request: one map of plain values per payload, CEL-ready.

Field names follow Turnkey's where they overlap (eth.tx.to, eth.tx.value,
eth.tx.chain_id, eth.tx.data, eth.eip_712.domain..., eth.eip_712.message...).
Every request carries every field (empty where the kind has none), so a rule
written for transactions reads "" or "0" on a personal message instead of
failing. Addresses are lowercase hex; amounts, and every integer of EIP-712
messages, are decimal strings (compare them with wei_lt/wei_le/...).
"""

from __future__ import annotations

import re
from typing import Any

from anima_signer.policy import calldata
from anima_signer_api.types import (
    Ed25519Message,
    Payload,
    PersonalMessage,
    Transaction,
    TypedData,
)
from anima_verify import jsonsafe

KINDS: dict[type, str] = {
    Transaction: "transaction",
    TypedData: "typed_data",
    PersonalMessage: "personal_message",
    Ed25519Message: "raw_ed25519",
}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _empty_call() -> dict[str, Any]:
    return {
        "function": "",
        "sender": "",
        "recipient": "",
        "amount": "0",
        "token_ids": [],
        "approved": False,
        "malformed": False,
    }


def empty_facts() -> dict[str, Any]:
    """The `eth` facts of a request that has none: every field, empty."""
    return _empty()


def _empty() -> dict[str, Any]:
    return {
        "tx": {
            "to": "",
            "value": "0",
            "chain_id": 0,
            "data": "0x",
            "selector": "",
            "gas": 0,
            "nonce": 0,
            "type": "",
            "gas_price": "0",
            "max_fee_per_gas": "0",
            "max_priority_fee_per_gas": "0",
            "max_fee": "0",
            "max_cost": "0",
        },
        "call": _empty_call(),
        "eip_712": {
            "domain": {"name": "", "version": "", "chain_id": 0, "verifying_contract": ""},
            "primary_type": "",
            "message": {},
        },
        "message": {"text": "", "hex": "", "size": 0},
    }


def _plain(value: Any) -> Any:
    """EIP-712 message values for CEL: integers as decimal strings, addresses lowercase."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.lower() if _ADDRESS.fullmatch(value) else value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value)


def max_fee(tx: Transaction) -> int:
    """The most the fee can take: gas_limit x the highest price per gas."""
    per_gas = tx.gas_price if tx.gas_price is not None else tx.max_fee_per_gas
    return tx.gas_limit * (per_gas or 0)


def _transaction(tx: Transaction, eth: dict[str, Any]) -> None:
    fee = max_fee(tx)
    eth["tx"] = {
        "to": (tx.to or "").lower(),
        "value": str(tx.value),
        "chain_id": tx.chain_id,
        "data": "0x" + tx.data.hex(),
        "selector": "0x" + tx.data[:4].hex() if len(tx.data) >= 4 else "",
        "gas": tx.gas_limit,
        "nonce": tx.nonce,
        "type": tx.type.value,
        "gas_price": str(tx.gas_price or 0),
        "max_fee_per_gas": str(tx.max_fee_per_gas or 0),
        "max_priority_fee_per_gas": str(tx.max_priority_fee_per_gas or 0),
        "max_fee": str(fee),
        "max_cost": str(tx.value + fee),
    }
    try:
        call = calldata.decode(tx.data)
    except calldata.MalformedCalldata:
        eth["call"] = _empty_call() | {"malformed": True}
        return
    if call is not None:
        eth["call"] = {
            "function": call.function,
            "sender": call.sender,
            "recipient": call.recipient,
            "amount": call.amount,
            "token_ids": list(call.token_ids),
            "approved": call.approved,
            "malformed": False,
        }


def _typed_data(payload: TypedData, chain_id: int | None, eth: dict[str, Any]) -> None:
    document = jsonsafe.loads(payload.typed_data_json, what="typed data")
    domain = document.get("domain") or {}
    eth["eip_712"] = {
        "domain": {
            "name": str(domain.get("name", "")),
            "version": str(domain.get("version", "")),
            "chain_id": chain_id or 0,
            "verifying_contract": str(domain.get("verifyingContract", "")).lower(),
        },
        "primary_type": str(document.get("primaryType", "")),
        "message": _plain(document.get("message") or {}),
    }


def facts(payload: Payload, *, chain_id: int | None) -> dict[str, Any]:
    """The rule variables for a payload already validated by the signing path.

    chain_id is the chain the signature is for (the transaction's, or the
    EIP-712 domain's), None for chain-less payloads.
    """
    eth = _empty()
    wallet_index = getattr(payload, "wallet_index", 0)
    raw = {"hex": "", "size": 0}
    if isinstance(payload, Transaction):
        _transaction(payload, eth)
    elif isinstance(payload, TypedData):
        _typed_data(payload, chain_id, eth)
    elif isinstance(payload, PersonalMessage):
        eth["message"] = {
            "text": payload.message.decode("utf-8", errors="replace"),
            "hex": "0x" + payload.message.hex(),
            "size": len(payload.message),
        }
    elif isinstance(payload, Ed25519Message):
        raw = {"hex": "0x" + payload.message.hex(), "size": len(payload.message)}
    return {
        "kind": KINDS[type(payload)],
        "wallet_index": wallet_index,
        "chain_id": chain_id or 0,
        "eth": eth,
        "raw": raw,
    }


def target(payload: Payload, variables: dict[str, Any]) -> str:
    """The address a rule's `to` filter matches: the transaction's recipient or the
    EIP-712 verifying contract; "" for others."""
    eth = variables["eth"]
    if isinstance(payload, Transaction):
        return str(eth["tx"]["to"])
    if isinstance(payload, TypedData):
        return str(eth["eip_712"]["domain"]["verifying_contract"])
    return ""
