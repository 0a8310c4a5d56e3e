"""Requests waiting for the owner's co-signature: their stored form and the owner's
approval of one. An approval names the exact request (its fingerprint), and the
Signer uses it up in the commit that logs its signature, so it signs exactly once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from anima_signer.policy.owner import check_signed_by_owner
from anima_signer_api.policy_document import approval_typed_data
from anima_signer_api.types import (
    AccessListEntry,
    Ed25519Message,
    Payload,
    PersonalMessage,
    Transaction,
    TxType,
    TypedData,
)


def approval_id(agent_id: str, request_hash: bytes, created_ms: int) -> str:
    """A fresh id per waiting request (64 hex digits, an EIP-712 bytes32)."""
    seed = f"{agent_id}\n{request_hash.hex()}\n{created_ms}".encode()
    return hashlib.sha256(seed).hexdigest()


def payload_to_json(payload: Payload) -> str:
    if isinstance(payload, PersonalMessage):
        doc: dict[str, Any] = {"k": "personal_message", "message": payload.message.hex(),
                               "wallet_index": payload.wallet_index}  # fmt: skip
    elif isinstance(payload, TypedData):
        doc = {"k": "typed_data", "json": payload.typed_data_json,
               "wallet_index": payload.wallet_index}  # fmt: skip
    elif isinstance(payload, Ed25519Message):
        doc = {"k": "raw_ed25519", "message": payload.message.hex()}
    else:
        doc = {
            "k": "transaction",
            "type": payload.type.value,
            "chain_id": payload.chain_id,
            "nonce": payload.nonce,
            "gas_limit": payload.gas_limit,
            "to": payload.to,
            "value": str(payload.value),
            "data": payload.data.hex(),
            "gas_price": None if payload.gas_price is None else str(payload.gas_price),
            "max_fee_per_gas": _opt(payload.max_fee_per_gas),
            "max_priority_fee_per_gas": _opt(payload.max_priority_fee_per_gas),
            "access_list": [
                [e.address, [k.hex() for k in e.storage_keys]] for e in payload.access_list
            ],
            "wallet_index": payload.wallet_index,
        }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def payload_from_json(text: str) -> Payload:
    """The inverse of payload_to_json (only ever given what the enclave stored)."""
    doc = json.loads(text)
    kind = doc["k"]
    if kind == "personal_message":
        return PersonalMessage(bytes.fromhex(doc["message"]), doc["wallet_index"])
    if kind == "typed_data":
        return TypedData(doc["json"], doc["wallet_index"])
    if kind == "raw_ed25519":
        return Ed25519Message(bytes.fromhex(doc["message"]))
    return Transaction(
        type=TxType(doc["type"]),
        chain_id=doc["chain_id"],
        nonce=doc["nonce"],
        gas_limit=doc["gas_limit"],
        to=doc["to"],
        value=int(doc["value"]),
        data=bytes.fromhex(doc["data"]),
        gas_price=_int(doc["gas_price"]),
        max_fee_per_gas=_int(doc["max_fee_per_gas"]),
        max_priority_fee_per_gas=_int(doc["max_priority_fee_per_gas"]),
        access_list=tuple(
            AccessListEntry(a, tuple(bytes.fromhex(k) for k in keys))
            for a, keys in doc["access_list"]
        ),
        wallet_index=doc["wallet_index"],
    )


def check_owner_approval(
    signature: bytes,
    *,
    owner: str,
    agent_id: str,
    agent_address: str,
    approval: str,
    request_hash: bytes,
) -> None:
    typed = approval_typed_data(
        agent_id=agent_id,
        agent_address=agent_address,
        approval_id=approval,
        request_hash=request_hash,
    )
    check_signed_by_owner(typed, signature, owner=owner, what="approval")
