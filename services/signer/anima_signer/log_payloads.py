"""Payloads of the log entries the enclave writes itself: canonical JSON documents.

Sorted keys, no whitespace, UTF-8, integers as JSON numbers below 2**53 and
larger amounts as decimal strings, so each document has one encoding and the
entry's payload_sha256 pins it. They hold public facts only: no key material,
and no policy (GetAttestation keeps the policy private too).
"""

from __future__ import annotations

import hashlib
import json

from anima_signer_api.types import (
    MAX_ENCLAVE_PAYLOAD_BYTES,
    Agent,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    Payload,
    PersonalMessage,
    SignedTransaction,
    SignResult,
    Transaction,
    TypedData,
)

PAYLOAD_VERSION = 1
MAX_REASON_CHARS = 1024
# One encoder for all: json.dumps with options builds a new one per call (on the signing path).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

# Named as the SignRequest payload fields on the wire.
REQUEST_TYPES: dict[type[Payload], str] = {
    PersonalMessage: "personal_message",
    TypedData: "typed_data",
    Transaction: "transaction",
    Ed25519Message: "raw_ed25519",
}


def canonical_json(document: dict[str, object]) -> bytes:
    data = _ENCODER.encode(document).encode()
    if len(data) > MAX_ENCLAVE_PAYLOAD_BYTES:  # pragma: no cover - bounded by construction
        raise ValueError(f"an enclave log payload is {len(data)} bytes")
    return data


def agent_created(agent: Agent, *, event: str = "agent_created") -> bytes:
    """The agent's first entry: its public keys, as attestation binds them, and its
    owner (whose signed policies alone govern it) when it has one."""
    document: dict[str, object] = {
        "v": PAYLOAD_VERSION,
        "event": event,
        "agent_id": agent.agent_id,
        "wallets": [{"index": w.index, "address": w.address} for w in agent.wallets],
        "log_verifier_key": agent.log_verifier_key,
        "signing_public_key": agent.signing_public_key.hex(),
        "key_derivation_version": agent.key_derivation_version,
    }
    if agent.owner:
        document["owner"] = agent.owner
    return canonical_json(document)


def signature(
    payload: Payload,
    result: SignResult,
    *,
    chain_id: int | None,
    decided_by: tuple[str, int] | None = None,
    approval_id: str = "",
) -> bytes:
    """What was signed, by which key, and the signature; for an owned agent also the
    allow decision: the rule and the owner's policy version that allowed it."""
    document: dict[str, object] = {
        "v": PAYLOAD_VERSION,
        "request": REQUEST_TYPES[type(payload)],
        "signature": result.signature.hex(),
    }
    if isinstance(result, EthSignature):
        document |= {"address": result.address, "digest": result.digest.hex()}
    elif isinstance(result, SignedTransaction):
        document |= {"address": result.address, "transaction_hash": result.transaction_hash.hex()}
    elif isinstance(result, Ed25519Signature):
        assert isinstance(payload, Ed25519Message)
        document |= {
            "public_key": result.public_key.hex(),
            "message_sha256": hashlib.sha256(payload.message).hexdigest(),
        }
    if chain_id is not None:
        document["chain_id"] = chain_id
    if decided_by is not None:
        document |= {"decision": "allow", "rule": decided_by[0], "policy_version": decided_by[1]}
    if approval_id:
        document["approval_id"] = approval_id  # co-signed by the owner
    return canonical_json(document)


def denial(
    payload: Payload, *, rule: str, message: str, policy_version: int | None = None
) -> bytes:
    """A request the owner's policy refused, and the rule (and policy version) that did."""
    document: dict[str, object] = {
        "v": PAYLOAD_VERSION,
        "decision": "deny",
        "request": REQUEST_TYPES[type(payload)],
        "rule": rule,
        "reason": message[:MAX_REASON_CHARS],
    }
    if policy_version is not None:
        document["policy_version"] = policy_version
    return canonical_json(document)


def cosign_pending(
    payload: Payload, *, rule: str, policy_version: int, approval_id: str, expires_ms: int
) -> bytes:
    """A request the policy holds for the owner's co-signature."""
    return canonical_json(
        {
            "v": PAYLOAD_VERSION,
            "decision": "cosign_pending",
            "request": REQUEST_TYPES[type(payload)],
            "rule": rule,
            "policy_version": policy_version,
            "approval_id": approval_id,
            "expires_ms": expires_ms,
        }
    )


def policy_applied(
    *, agent_id: str, owner: str, version: int, document: str, owner_signature: bytes
) -> bytes:
    """A new owner policy took effect: which version, the document's hash and the
    owner's signature (so anyone holding the document can check it was the owner's)."""
    return canonical_json(
        {
            "v": PAYLOAD_VERSION,
            "event": "policy_applied",
            "agent_id": agent_id,
            "owner": owner,
            "policy_version": version,
            "document_sha256": hashlib.sha256(document.encode()).hexdigest(),
            "owner_signature": owner_signature.hex(),
        }
    )


def agent_migrated(
    *,
    agent_id: str,
    recipient: bytes,
    challenge: bytes,
    destination_tee: str,
    destination_mrtd: bytes,
) -> bytes:
    """The handover to a peer enclave, the source's last entry for the agent: the
    destination's challenge, a hash of the key the root was sealed to, and what its
    verified evidence says it is (the destination continues the log after this)."""
    return canonical_json(
        {
            "v": PAYLOAD_VERSION,
            "event": "agent_migrated",
            "agent_id": agent_id,
            "challenge": challenge.hex(),
            "recipient_sha256": hashlib.sha256(recipient).hexdigest(),
            "destination_tee": destination_tee,
            "destination_mrtd": destination_mrtd.hex(),
        }
    )
