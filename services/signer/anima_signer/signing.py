"""Signing one request: the digest or transaction each payload kind signs, under the
agent's policy, with the agent's key for it. No state and no log: the Signer
(core.py) logs every signature and refusal this makes."""

from __future__ import annotations

from collections.abc import Callable

from anima_signer import eth
from anima_signer.keys import KeyRing
from anima_signer.policy import minimal_gate
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import (
    MAX_MESSAGE_BYTES,
    Agent,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    Payload,
    PersonalMessage,
    SignedTransaction,
    SignRequest,
    SignResult,
    Transaction,
    TypedData,
)


def _wallet_index(agent: Agent, index: int) -> int:
    if not 0 <= index < len(agent.wallets):
        raise InvalidRequest(
            f"wallet_index {index} is out of range; agent has {len(agent.wallets)} wallets"
        )
    return index


def _sign_eth_digest(keys: KeyRing, agent: Agent, index: int, digest: bytes) -> EthSignature:
    key = keys.wallet_key(agent.agent_id, index)
    return EthSignature(agent.wallets[index].address, digest, eth.sign_digest(key, digest))


#: Judges a validated payload for the chain it is for; raises PolicyDenied to refuse.
Gate = Callable[[Payload, "int | None"], None]


def minimal_gate_for(agent: Agent) -> Gate:
    def check(payload: Payload, chain_id: int | None) -> None:
        minimal_gate.check(agent.policy, payload, typed_data_chain_id=chain_id)

    return check


def sign_payload(
    keys: KeyRing, agent: Agent, request: SignRequest, gate: Gate | None = None
) -> tuple[SignResult, int | None]:
    """The signature and the chain it is for (None when chain-less); PolicyDenied where
    the gate (by default the agent's minimal gate) refuses it, InvalidRequest for a
    malformed request. The gate sees only payloads that passed validation."""
    check = gate or minimal_gate_for(agent)
    payload = request.payload
    agent_id = agent.agent_id
    if isinstance(payload, PersonalMessage):
        index = _wallet_index(agent, payload.wallet_index)
        digest = eth.personal_message_digest(payload.message)
        check(payload, None)
        return _sign_eth_digest(keys, agent, index, digest), None
    if isinstance(payload, TypedData):
        index = _wallet_index(agent, payload.wallet_index)
        digest, chain_id = eth.typed_data_digest(payload.typed_data_json)
        check(payload, chain_id)
        return _sign_eth_digest(keys, agent, index, digest), chain_id
    if isinstance(payload, Transaction):
        index = _wallet_index(agent, payload.wallet_index)
        fields = eth.transaction_dict(payload)  # validate before policy: precise errors
        check(payload, payload.chain_id)
        raw, tx_hash, signature = eth.sign_transaction(
            keys.wallet_key(agent_id, index), payload, fields
        )
        signed = SignedTransaction(agent.wallets[index].address, raw, tx_hash, signature)
        return signed, payload.chain_id
    if isinstance(payload, Ed25519Message):
        if len(payload.message) > MAX_MESSAGE_BYTES:
            raise InvalidRequest(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        check(payload, None)
        key = keys.signing_key(agent_id)
        return Ed25519Signature(agent.signing_public_key, key.sign(payload.message)), None
    raise InvalidRequest("the request carries no payload to sign")
