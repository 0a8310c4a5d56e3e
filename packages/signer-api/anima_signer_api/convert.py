"""Protobuf <-> domain conversion: the only place signer protobuf types meet core types.

Validation of wire shapes (decimal amounts, missing oneofs) happens here and
raises InvalidRequest with the field name, so bad input never reaches the core.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from anima.signer.v1 import signer_pb2 as pb
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import (
    MAX_APPEND_ENTRIES,
    UINT256_MAX,
    AccessListEntry,
    Agent,
    AttestationBundle,
    Ed25519Message,
    Ed25519Signature,
    EthSignature,
    LogAppendResult,
    LogEntryInput,
    Payload,
    PendingApproval,
    PersonalMessage,
    PolicyExplanation,
    PolicyStatus,
    SequencedEntry,
    SignedTransaction,
    SigningPolicy,
    SignRequest,
    SignResult,
    Transaction,
    TxType,
    TypedData,
    Wallet,
)
from anima_verify.tlog.entry import EntryKind

_TX_TYPES = {
    pb.TRANSACTION_TYPE_LEGACY: TxType.LEGACY,
    pb.TRANSACTION_TYPE_EIP1559: TxType.EIP1559,
}


def wei(field: str, text: str, *, required: bool = True) -> int | None:
    """Parse a decimal uint256 amount; "" is absent."""
    if text == "":
        if required:
            return 0
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 78:
        raise InvalidRequest(f"{field} must be a decimal integer of wei, got {text[:80]!r}")
    value = int(text)
    if value > UINT256_MAX:
        raise InvalidRequest(f"{field} exceeds 2**256-1")
    return value


# ---------------------------------------------------------------- policy and agents


def policy_from_proto(msg: pb.SigningPolicy) -> SigningPolicy:
    return SigningPolicy(
        allowed_chain_ids=frozenset(msg.allowed_chain_ids),
        max_value_wei=wei("policy.max_value_wei", msg.max_value_wei) or 0,
        allow_personal_messages=msg.allow_personal_messages,
        allow_typed_data=msg.allow_typed_data,
        allow_raw_ed25519=msg.allow_raw_ed25519,
    )


def policy_to_proto(policy: SigningPolicy) -> pb.SigningPolicy:
    return pb.SigningPolicy(
        allowed_chain_ids=sorted(policy.allowed_chain_ids),
        max_value_wei=str(policy.max_value_wei),
        allow_personal_messages=policy.allow_personal_messages,
        allow_typed_data=policy.allow_typed_data,
        allow_raw_ed25519=policy.allow_raw_ed25519,
    )


def agent_to_proto(agent: Agent) -> pb.Agent:
    created = Timestamp()
    created.FromDatetime(agent.created_at)
    return pb.Agent(
        agent_id=agent.agent_id,
        wallets=[
            pb.Wallet(index=w.index, address=w.address, public_key=w.public_key)
            for w in agent.wallets
        ],
        log_verifier_key=agent.log_verifier_key,
        log_public_key=agent.log_public_key,
        signing_public_key=agent.signing_public_key,
        policy=policy_to_proto(agent.policy),
        created_at=created,
        key_derivation_version=agent.key_derivation_version,
        owner=agent.owner,
    )


def agent_from_proto(msg: pb.Agent) -> Agent:
    return Agent(
        agent_id=msg.agent_id,
        wallets=tuple(
            Wallet(index=w.index, address=w.address, public_key=w.public_key) for w in msg.wallets
        ),
        log_verifier_key=msg.log_verifier_key,
        log_public_key=msg.log_public_key,
        signing_public_key=msg.signing_public_key,
        policy=policy_from_proto(msg.policy),
        created_at=msg.created_at.ToDatetime(tzinfo=UTC),
        key_derivation_version=msg.key_derivation_version,
        owner=msg.owner,
    )


def policy_status_to_proto(status: PolicyStatus) -> pb.PolicyStatus:
    return pb.PolicyStatus(
        agent_id=status.agent_id,
        owner=status.owner,
        version=status.version,
        document=status.document,
        owner_signature=status.owner_signature,
    )


def policy_status_from_proto(msg: pb.PolicyStatus) -> PolicyStatus:
    return PolicyStatus(
        agent_id=msg.agent_id,
        owner=msg.owner,
        version=msg.version,
        document=msg.document,
        owner_signature=msg.owner_signature,
    )


def sign_request_from_json(text: str, *, agent_id: str) -> SignRequest:
    """A SignRequest from its protobuf JSON form (for command-line tools)."""
    message = pb.SignRequest()
    try:
        json_format.Parse(text, message)
    except json_format.ParseError as exc:
        raise InvalidRequest(f"not a SignRequest in protobuf JSON: {exc}") from exc
    message.agent_id = agent_id
    return sign_request_from_proto(message)


def sign_request_to_json(agent_id: str, payload: Payload) -> dict[str, object]:
    wire = sign_request_to_proto(SignRequest(agent_id, payload))
    return dict(json_format.MessageToDict(wire))


def pending_approval_to_proto(pending: PendingApproval) -> pb.PendingApproval:
    return pb.PendingApproval(
        approval_id=pending.approval_id,
        agent_id=pending.agent_id,
        request_hash=pending.request_hash,
        request=sign_request_to_proto(SignRequest(pending.agent_id, pending.payload)),
        rule=pending.rule,
        policy_version=pending.policy_version,
        created_ms=pending.created_ms,
        expires_ms=pending.expires_ms,
    )


def pending_approval_from_proto(msg: pb.PendingApproval) -> PendingApproval:
    return PendingApproval(
        approval_id=msg.approval_id,
        agent_id=msg.agent_id,
        request_hash=msg.request_hash,
        payload=sign_request_from_proto(msg.request).payload,
        rule=msg.rule,
        policy_version=msg.policy_version,
        created_ms=msg.created_ms,
        expires_ms=msg.expires_ms,
    )


def explanation_to_proto(explained: PolicyExplanation) -> pb.ExplainSignResponse:
    return pb.ExplainSignResponse(
        allowed=explained.allowed,
        rule=explained.rule,
        policy_version=explained.policy_version,
        reason=explained.reason,
    )


def explanation_from_proto(msg: pb.ExplainSignResponse) -> PolicyExplanation:
    return PolicyExplanation(
        allowed=msg.allowed,
        rule=msg.rule,
        policy_version=msg.policy_version,
        reason=msg.reason,
    )


def attestation_to_proto(bundle: AttestationBundle) -> pb.GetAttestationResponse:
    return pb.GetAttestationResponse(
        evidence=pb.Evidence(
            tee=bundle.tee, quote=bundle.quote, collateral_json=bundle.collateral_json or b""
        ),
        tls_public_key=bundle.tls_public_key,
        bound_keys=bundle.bound_keys,
    )


def attestation_from_proto(msg: pb.GetAttestationResponse) -> AttestationBundle:
    return AttestationBundle(
        tee=msg.evidence.tee,
        quote=msg.evidence.quote,
        collateral_json=msg.evidence.collateral_json or None,
        tls_public_key=msg.tls_public_key,
        bound_keys=msg.bound_keys,
    )


# ---------------------------------------------------------------- sign requests


def _transaction_from_proto(msg: pb.EthTransaction) -> Transaction:
    tx_type = _TX_TYPES.get(msg.type)
    if tx_type is None:
        raise InvalidRequest("transaction.type must be TRANSACTION_TYPE_LEGACY or _EIP1559")
    return Transaction(
        type=tx_type,
        chain_id=msg.chain_id,
        nonce=msg.nonce,
        gas_limit=msg.gas_limit,
        to=msg.to or None,
        value=wei("transaction.value", msg.value) or 0,
        data=msg.data,
        gas_price=wei("transaction.gas_price", msg.gas_price, required=False),
        max_fee_per_gas=wei("transaction.max_fee_per_gas", msg.max_fee_per_gas, required=False),
        max_priority_fee_per_gas=wei(
            "transaction.max_priority_fee_per_gas", msg.max_priority_fee_per_gas, required=False
        ),
        access_list=tuple(
            AccessListEntry(address=e.address, storage_keys=tuple(e.storage_keys))
            for e in msg.access_list
        ),
        wallet_index=msg.wallet_index,
    )


def _payload_from_proto(msg: pb.SignRequest) -> Payload:
    which = msg.WhichOneof("payload")
    if which == "personal_message":
        return PersonalMessage(
            message=msg.personal_message.message, wallet_index=msg.personal_message.wallet_index
        )
    if which == "typed_data":
        return TypedData(
            typed_data_json=msg.typed_data.typed_data_json,
            wallet_index=msg.typed_data.wallet_index,
        )
    if which == "transaction":
        return _transaction_from_proto(msg.transaction)
    if which == "raw_ed25519":
        return Ed25519Message(message=msg.raw_ed25519.message)
    raise InvalidRequest("the request carries no payload (set one of the payload fields)")


def sign_request_from_proto(msg: pb.SignRequest) -> SignRequest:
    if not msg.agent_id:
        raise InvalidRequest("agent_id is required")
    return SignRequest(
        agent_id=msg.agent_id,
        payload=_payload_from_proto(msg),
        idempotency_key=msg.idempotency_key,
    )


def sign_request_to_proto(request: SignRequest) -> pb.SignRequest:
    """Used by the client library, so callers work with domain types too."""
    msg = pb.SignRequest(agent_id=request.agent_id, idempotency_key=request.idempotency_key)
    p = request.payload
    if isinstance(p, PersonalMessage):
        msg.personal_message.CopyFrom(
            pb.Eip191Message(wallet_index=p.wallet_index, message=p.message)
        )
    elif isinstance(p, TypedData):
        msg.typed_data.CopyFrom(
            pb.Eip712TypedData(wallet_index=p.wallet_index, typed_data_json=p.typed_data_json)
        )
    elif isinstance(p, Transaction):
        tx_type = {v: k for k, v in _TX_TYPES.items()}[p.type]
        msg.transaction.CopyFrom(
            pb.EthTransaction(
                wallet_index=p.wallet_index,
                type=tx_type,
                chain_id=p.chain_id,
                nonce=p.nonce,
                gas_limit=p.gas_limit,
                to=p.to or "",
                value=str(p.value),
                data=p.data,
                gas_price="" if p.gas_price is None else str(p.gas_price),
                max_fee_per_gas="" if p.max_fee_per_gas is None else str(p.max_fee_per_gas),
                max_priority_fee_per_gas=""
                if p.max_priority_fee_per_gas is None
                else str(p.max_priority_fee_per_gas),
                access_list=[
                    pb.AccessListEntry(address=e.address, storage_keys=list(e.storage_keys))
                    for e in p.access_list
                ],
            )
        )
    else:
        msg.raw_ed25519.CopyFrom(pb.Ed25519Payload(message=p.message))
    return msg


# ---------------------------------------------------------------- results


def result_to_proto(result: SignResult) -> pb.SignResponse:
    if isinstance(result, EthSignature):
        return pb.SignResponse(
            eth_signature=pb.EthSignature(
                address=result.address, digest=result.digest, signature=result.signature
            ),
            log_index=result.log_index,
        )
    if isinstance(result, SignedTransaction):
        return pb.SignResponse(
            transaction=pb.SignedTransaction(
                address=result.address,
                raw_transaction=result.raw_transaction,
                transaction_hash=result.transaction_hash,
                signature=result.signature,
            ),
            log_index=result.log_index,
        )
    return pb.SignResponse(
        ed25519=pb.Ed25519Signature(public_key=result.public_key, signature=result.signature),
        log_index=result.log_index,
    )


def result_from_proto(msg: pb.SignResponse) -> SignResult:
    which = msg.WhichOneof("result")
    if which == "eth_signature":
        e = msg.eth_signature
        return EthSignature(
            address=e.address, digest=e.digest, signature=e.signature, log_index=msg.log_index
        )
    if which == "transaction":
        t = msg.transaction
        return SignedTransaction(
            address=t.address,
            raw_transaction=t.raw_transaction,
            transaction_hash=t.transaction_hash,
            signature=t.signature,
            log_index=msg.log_index,
        )
    if which == "ed25519":
        return Ed25519Signature(
            public_key=msg.ed25519.public_key,
            signature=msg.ed25519.signature,
            log_index=msg.log_index,
        )
    raise InvalidRequest("the signer answered with no result")


# ---------------------------------------------------------------- the log

_ENTRY_KINDS = {
    pb.LOG_ENTRY_KIND_MESSAGE_IN: EntryKind.MESSAGE_IN,
    pb.LOG_ENTRY_KIND_RESPONSE: EntryKind.RESPONSE,
    pb.LOG_ENTRY_KIND_ACTION: EntryKind.ACTION,
    pb.LOG_ENTRY_KIND_EVALUATOR: EntryKind.EVALUATOR,
    pb.LOG_ENTRY_KIND_SIGNATURE: EntryKind.SIGNATURE,
    pb.LOG_ENTRY_KIND_POLICY_DECISION: EntryKind.POLICY_DECISION,
    pb.LOG_ENTRY_KIND_LIFECYCLE: EntryKind.LIFECYCLE,
}
_ENTRY_KIND_NUMBERS = {kind: number for number, kind in _ENTRY_KINDS.items()}


def append_log_request_from_proto(
    msg: pb.AppendLogRequest,
) -> tuple[str, int, list[LogEntryInput]]:
    """(agent_id, host_size, inputs); each bad input is named by its position."""
    if not msg.agent_id:
        raise InvalidRequest("agent_id is required")
    if len(msg.entries) > MAX_APPEND_ENTRIES:  # before converting any of them
        raise InvalidRequest(
            f"{len(msg.entries)} entries in one append; the limit is {MAX_APPEND_ENTRIES}"
        )
    inputs = []
    for position, item in enumerate(msg.entries):
        kind = _ENTRY_KINDS.get(item.kind)
        if kind is None:
            raise InvalidRequest(
                f"entries[{position}].kind must be one of LOG_ENTRY_KIND_MESSAGE_IN.."
                f"LOG_ENTRY_KIND_LIFECYCLE, got {item.kind}"
            )
        inputs.append(
            LogEntryInput(
                kind=kind,
                actor=item.actor,
                room=item.room,
                payload_sha256=item.payload_sha256,
                payload_size=item.payload_size,
            )
        )
    return msg.agent_id, msg.host_size, inputs


def append_log_request_to_proto(
    agent_id: str, host_size: int, inputs: Iterable[LogEntryInput]
) -> pb.AppendLogRequest:
    return pb.AppendLogRequest(
        agent_id=agent_id,
        host_size=host_size,
        entries=[
            pb.LogEntryInput(
                kind=_ENTRY_KIND_NUMBERS[i.kind],
                actor=i.actor,
                room=i.room,
                payload_sha256=i.payload_sha256,
                payload_size=i.payload_size,
            )
            for i in inputs
        ],
    )


def log_result_to_proto(result: LogAppendResult) -> pb.AppendLogResponse:
    return pb.AppendLogResponse(
        first_index=result.first_index,
        size=result.size,
        entries=[pb.SequencedEntry(entry=e.entry, payload=e.payload) for e in result.entries],
        checkpoint=result.checkpoint,
    )


def log_result_from_proto(msg: pb.AppendLogResponse) -> LogAppendResult:
    return LogAppendResult(
        first_index=msg.first_index,
        size=msg.size,
        entries=tuple(
            SequencedEntry(e.entry, e.payload if e.HasField("payload") else None)
            for e in msg.entries
        ),
        checkpoint=msg.checkpoint,
    )
