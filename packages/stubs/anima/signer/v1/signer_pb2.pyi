import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransactionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_TYPE_UNSPECIFIED: _ClassVar[TransactionType]
    TRANSACTION_TYPE_LEGACY: _ClassVar[TransactionType]
    TRANSACTION_TYPE_EIP1559: _ClassVar[TransactionType]

class LogEntryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_ENTRY_KIND_UNSPECIFIED: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_MESSAGE_IN: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_RESPONSE: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_ACTION: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_EVALUATOR: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_SIGNATURE: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_POLICY_DECISION: _ClassVar[LogEntryKind]
    LOG_ENTRY_KIND_LIFECYCLE: _ClassVar[LogEntryKind]
TRANSACTION_TYPE_UNSPECIFIED: TransactionType
TRANSACTION_TYPE_LEGACY: TransactionType
TRANSACTION_TYPE_EIP1559: TransactionType
LOG_ENTRY_KIND_UNSPECIFIED: LogEntryKind
LOG_ENTRY_KIND_MESSAGE_IN: LogEntryKind
LOG_ENTRY_KIND_RESPONSE: LogEntryKind
LOG_ENTRY_KIND_ACTION: LogEntryKind
LOG_ENTRY_KIND_EVALUATOR: LogEntryKind
LOG_ENTRY_KIND_SIGNATURE: LogEntryKind
LOG_ENTRY_KIND_POLICY_DECISION: LogEntryKind
LOG_ENTRY_KIND_LIFECYCLE: LogEntryKind

class SigningPolicy(_message.Message):
    __slots__ = ("allowed_chain_ids", "max_value_wei", "allow_personal_messages", "allow_typed_data", "allow_raw_ed25519")
    ALLOWED_CHAIN_IDS_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_WEI_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PERSONAL_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_TYPED_DATA_FIELD_NUMBER: _ClassVar[int]
    ALLOW_RAW_ED25519_FIELD_NUMBER: _ClassVar[int]
    allowed_chain_ids: _containers.RepeatedScalarFieldContainer[int]
    max_value_wei: str
    allow_personal_messages: bool
    allow_typed_data: bool
    allow_raw_ed25519: bool
    def __init__(self, allowed_chain_ids: _Optional[_Iterable[int]] = ..., max_value_wei: _Optional[str] = ..., allow_personal_messages: _Optional[bool] = ..., allow_typed_data: _Optional[bool] = ..., allow_raw_ed25519: _Optional[bool] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent_id", "wallet_count", "policy", "owner")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_COUNT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    wallet_count: int
    policy: SigningPolicy
    owner: str
    def __init__(self, agent_id: _Optional[str] = ..., wallet_count: _Optional[int] = ..., policy: _Optional[_Union[SigningPolicy, _Mapping]] = ..., owner: _Optional[str] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent", "escrow_shares", "escrow_threshold")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ESCROW_SHARES_FIELD_NUMBER: _ClassVar[int]
    ESCROW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    escrow_shares: _containers.RepeatedScalarFieldContainer[bytes]
    escrow_threshold: int
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., escrow_shares: _Optional[_Iterable[bytes]] = ..., escrow_threshold: _Optional[int] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...

class Wallet(_message.Message):
    __slots__ = ("index", "address", "public_key")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    index: int
    address: str
    public_key: bytes
    def __init__(self, index: _Optional[int] = ..., address: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("agent_id", "wallets", "log_verifier_key", "log_public_key", "signing_public_key", "policy", "created_at", "key_derivation_version", "owner")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    LOG_VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    LOG_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEY_DERIVATION_VERSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    wallets: _containers.RepeatedCompositeFieldContainer[Wallet]
    log_verifier_key: str
    log_public_key: bytes
    signing_public_key: bytes
    policy: SigningPolicy
    created_at: _timestamp_pb2.Timestamp
    key_derivation_version: int
    owner: str
    def __init__(self, agent_id: _Optional[str] = ..., wallets: _Optional[_Iterable[_Union[Wallet, _Mapping]]] = ..., log_verifier_key: _Optional[str] = ..., log_public_key: _Optional[bytes] = ..., signing_public_key: _Optional[bytes] = ..., policy: _Optional[_Union[SigningPolicy, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_derivation_version: _Optional[int] = ..., owner: _Optional[str] = ...) -> None: ...

class ApplyPolicyRequest(_message.Message):
    __slots__ = ("agent_id", "document", "owner_signature")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    OWNER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    document: str
    owner_signature: bytes
    def __init__(self, agent_id: _Optional[str] = ..., document: _Optional[str] = ..., owner_signature: _Optional[bytes] = ...) -> None: ...

class PolicyStatus(_message.Message):
    __slots__ = ("agent_id", "owner", "version", "document", "owner_signature")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    OWNER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    owner: str
    version: int
    document: str
    owner_signature: bytes
    def __init__(self, agent_id: _Optional[str] = ..., owner: _Optional[str] = ..., version: _Optional[int] = ..., document: _Optional[str] = ..., owner_signature: _Optional[bytes] = ...) -> None: ...

class ApplyPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: PolicyStatus
    def __init__(self, policy: _Optional[_Union[PolicyStatus, _Mapping]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: PolicyStatus
    def __init__(self, policy: _Optional[_Union[PolicyStatus, _Mapping]] = ...) -> None: ...

class PendingApproval(_message.Message):
    __slots__ = ("approval_id", "agent_id", "request_hash", "request", "rule", "policy_version", "created_ms", "expires_ms")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    agent_id: str
    request_hash: bytes
    request: SignRequest
    rule: str
    policy_version: int
    created_ms: int
    expires_ms: int
    def __init__(self, approval_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., request_hash: _Optional[bytes] = ..., request: _Optional[_Union[SignRequest, _Mapping]] = ..., rule: _Optional[str] = ..., policy_version: _Optional[int] = ..., created_ms: _Optional[int] = ..., expires_ms: _Optional[int] = ...) -> None: ...

class ListApprovalsRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ListApprovalsResponse(_message.Message):
    __slots__ = ("approvals",)
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    approvals: _containers.RepeatedCompositeFieldContainer[PendingApproval]
    def __init__(self, approvals: _Optional[_Iterable[_Union[PendingApproval, _Mapping]]] = ...) -> None: ...

class ApproveRequest(_message.Message):
    __slots__ = ("agent_id", "approval_id", "owner_signature")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    approval_id: str
    owner_signature: bytes
    def __init__(self, agent_id: _Optional[str] = ..., approval_id: _Optional[str] = ..., owner_signature: _Optional[bytes] = ...) -> None: ...

class ApproveResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: SignResponse
    def __init__(self, result: _Optional[_Union[SignResponse, _Mapping]] = ...) -> None: ...

class ExplainSignRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: SignRequest
    def __init__(self, request: _Optional[_Union[SignRequest, _Mapping]] = ...) -> None: ...

class ExplainSignResponse(_message.Message):
    __slots__ = ("allowed", "rule", "policy_version", "reason")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    rule: str
    policy_version: int
    reason: str
    def __init__(self, allowed: _Optional[bool] = ..., rule: _Optional[str] = ..., policy_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GetAttestationRequest(_message.Message):
    __slots__ = ("nonce", "agent_id")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    nonce: bytes
    agent_id: str
    def __init__(self, nonce: _Optional[bytes] = ..., agent_id: _Optional[str] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("tee", "quote", "collateral_json")
    TEE_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    COLLATERAL_JSON_FIELD_NUMBER: _ClassVar[int]
    tee: str
    quote: bytes
    collateral_json: bytes
    def __init__(self, tee: _Optional[str] = ..., quote: _Optional[bytes] = ..., collateral_json: _Optional[bytes] = ...) -> None: ...

class GetAttestationResponse(_message.Message):
    __slots__ = ("evidence", "tls_public_key", "bound_keys")
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    TLS_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    BOUND_KEYS_FIELD_NUMBER: _ClassVar[int]
    evidence: Evidence
    tls_public_key: bytes
    bound_keys: bytes
    def __init__(self, evidence: _Optional[_Union[Evidence, _Mapping]] = ..., tls_public_key: _Optional[bytes] = ..., bound_keys: _Optional[bytes] = ...) -> None: ...

class Eip191Message(_message.Message):
    __slots__ = ("wallet_index", "message")
    WALLET_INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    wallet_index: int
    message: bytes
    def __init__(self, wallet_index: _Optional[int] = ..., message: _Optional[bytes] = ...) -> None: ...

class Eip712TypedData(_message.Message):
    __slots__ = ("wallet_index", "typed_data_json")
    WALLET_INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPED_DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    wallet_index: int
    typed_data_json: str
    def __init__(self, wallet_index: _Optional[int] = ..., typed_data_json: _Optional[str] = ...) -> None: ...

class AccessListEntry(_message.Message):
    __slots__ = ("address", "storage_keys")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_KEYS_FIELD_NUMBER: _ClassVar[int]
    address: str
    storage_keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, address: _Optional[str] = ..., storage_keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EthTransaction(_message.Message):
    __slots__ = ("wallet_index", "type", "chain_id", "nonce", "gas_limit", "to", "value", "data", "gas_price", "max_fee_per_gas", "max_priority_fee_per_gas", "access_list")
    WALLET_INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    GAS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    GAS_PRICE_FIELD_NUMBER: _ClassVar[int]
    MAX_FEE_PER_GAS_FIELD_NUMBER: _ClassVar[int]
    MAX_PRIORITY_FEE_PER_GAS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_LIST_FIELD_NUMBER: _ClassVar[int]
    wallet_index: int
    type: TransactionType
    chain_id: int
    nonce: int
    gas_limit: int
    to: str
    value: str
    data: bytes
    gas_price: str
    max_fee_per_gas: str
    max_priority_fee_per_gas: str
    access_list: _containers.RepeatedCompositeFieldContainer[AccessListEntry]
    def __init__(self, wallet_index: _Optional[int] = ..., type: _Optional[_Union[TransactionType, str]] = ..., chain_id: _Optional[int] = ..., nonce: _Optional[int] = ..., gas_limit: _Optional[int] = ..., to: _Optional[str] = ..., value: _Optional[str] = ..., data: _Optional[bytes] = ..., gas_price: _Optional[str] = ..., max_fee_per_gas: _Optional[str] = ..., max_priority_fee_per_gas: _Optional[str] = ..., access_list: _Optional[_Iterable[_Union[AccessListEntry, _Mapping]]] = ...) -> None: ...

class Ed25519Payload(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: bytes
    def __init__(self, message: _Optional[bytes] = ...) -> None: ...

class SignRequest(_message.Message):
    __slots__ = ("agent_id", "idempotency_key", "personal_message", "typed_data", "transaction", "raw_ed25519")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PERSONAL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TYPED_DATA_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    RAW_ED25519_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    idempotency_key: str
    personal_message: Eip191Message
    typed_data: Eip712TypedData
    transaction: EthTransaction
    raw_ed25519: Ed25519Payload
    def __init__(self, agent_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., personal_message: _Optional[_Union[Eip191Message, _Mapping]] = ..., typed_data: _Optional[_Union[Eip712TypedData, _Mapping]] = ..., transaction: _Optional[_Union[EthTransaction, _Mapping]] = ..., raw_ed25519: _Optional[_Union[Ed25519Payload, _Mapping]] = ...) -> None: ...

class EthSignature(_message.Message):
    __slots__ = ("address", "digest", "signature")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    address: str
    digest: bytes
    signature: bytes
    def __init__(self, address: _Optional[str] = ..., digest: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SignedTransaction(_message.Message):
    __slots__ = ("address", "raw_transaction", "transaction_hash", "signature")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RAW_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    address: str
    raw_transaction: bytes
    transaction_hash: bytes
    signature: bytes
    def __init__(self, address: _Optional[str] = ..., raw_transaction: _Optional[bytes] = ..., transaction_hash: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Ed25519Signature(_message.Message):
    __slots__ = ("public_key", "signature")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    signature: bytes
    def __init__(self, public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SignResponse(_message.Message):
    __slots__ = ("eth_signature", "transaction", "ed25519", "log_index")
    ETH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    ED25519_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    eth_signature: EthSignature
    transaction: SignedTransaction
    ed25519: Ed25519Signature
    log_index: int
    def __init__(self, eth_signature: _Optional[_Union[EthSignature, _Mapping]] = ..., transaction: _Optional[_Union[SignedTransaction, _Mapping]] = ..., ed25519: _Optional[_Union[Ed25519Signature, _Mapping]] = ..., log_index: _Optional[int] = ...) -> None: ...

class SignBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SignRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[SignRequest, _Mapping]]] = ...) -> None: ...

class SignError(_message.Message):
    __slots__ = ("code", "message", "reason", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    reason: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., reason: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SignBatchItem(_message.Message):
    __slots__ = ("response", "error")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response: SignResponse
    error: SignError
    def __init__(self, response: _Optional[_Union[SignResponse, _Mapping]] = ..., error: _Optional[_Union[SignError, _Mapping]] = ...) -> None: ...

class SignBatchResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[SignBatchItem]
    def __init__(self, items: _Optional[_Iterable[_Union[SignBatchItem, _Mapping]]] = ...) -> None: ...

class SignStreamRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: SignRequest
    def __init__(self, request: _Optional[_Union[SignRequest, _Mapping]] = ...) -> None: ...

class SignStreamResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: SignBatchItem
    def __init__(self, item: _Optional[_Union[SignBatchItem, _Mapping]] = ...) -> None: ...

class LogEntryInput(_message.Message):
    __slots__ = ("kind", "actor", "room", "payload_sha256", "payload_size")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    kind: LogEntryKind
    actor: str
    room: str
    payload_sha256: bytes
    payload_size: int
    def __init__(self, kind: _Optional[_Union[LogEntryKind, str]] = ..., actor: _Optional[str] = ..., room: _Optional[str] = ..., payload_sha256: _Optional[bytes] = ..., payload_size: _Optional[int] = ...) -> None: ...

class AppendLogRequest(_message.Message):
    __slots__ = ("agent_id", "host_size", "entries")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_SIZE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    host_size: int
    entries: _containers.RepeatedCompositeFieldContainer[LogEntryInput]
    def __init__(self, agent_id: _Optional[str] = ..., host_size: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[LogEntryInput, _Mapping]]] = ...) -> None: ...

class SequencedEntry(_message.Message):
    __slots__ = ("entry", "payload")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    entry: bytes
    payload: bytes
    def __init__(self, entry: _Optional[bytes] = ..., payload: _Optional[bytes] = ...) -> None: ...

class AppendLogResponse(_message.Message):
    __slots__ = ("first_index", "size", "entries", "checkpoint")
    FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    first_index: int
    size: int
    entries: _containers.RepeatedCompositeFieldContainer[SequencedEntry]
    checkpoint: bytes
    def __init__(self, first_index: _Optional[int] = ..., size: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[SequencedEntry, _Mapping]]] = ..., checkpoint: _Optional[bytes] = ...) -> None: ...

class LifeDataPart(_message.Message):
    __slots__ = ("kind", "plaintext", "items")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    plaintext: bytes
    items: int
    def __init__(self, kind: _Optional[str] = ..., plaintext: _Optional[bytes] = ..., items: _Optional[int] = ...) -> None: ...

class SealedChunk(_message.Message):
    __slots__ = ("chunk_id", "kind", "size", "items", "data")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    kind: str
    size: int
    items: int
    data: bytes
    def __init__(self, chunk_id: _Optional[str] = ..., kind: _Optional[str] = ..., size: _Optional[int] = ..., items: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class SealLifeDataRequest(_message.Message):
    __slots__ = ("agent_id", "epoch", "parts", "include_signer_state")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SIGNER_STATE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    epoch: int
    parts: _containers.RepeatedCompositeFieldContainer[LifeDataPart]
    include_signer_state: bool
    def __init__(self, agent_id: _Optional[str] = ..., epoch: _Optional[int] = ..., parts: _Optional[_Iterable[_Union[LifeDataPart, _Mapping]]] = ..., include_signer_state: _Optional[bool] = ...) -> None: ...

class SealLifeDataResponse(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[SealedChunk]
    def __init__(self, chunks: _Optional[_Iterable[_Union[SealedChunk, _Mapping]]] = ...) -> None: ...

class SignLifeManifestRequest(_message.Message):
    __slots__ = ("manifest",)
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    manifest: bytes
    def __init__(self, manifest: _Optional[bytes] = ...) -> None: ...

class SignLifeManifestResponse(_message.Message):
    __slots__ = ("signed_manifest",)
    SIGNED_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    signed_manifest: bytes
    def __init__(self, signed_manifest: _Optional[bytes] = ...) -> None: ...

class AnchorState(_message.Message):
    __slots__ = ("manifest_hash", "checkpoint_root", "version", "checkpoint_size", "epoch")
    MANIFEST_HASH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ROOT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SIZE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    manifest_hash: bytes
    checkpoint_root: bytes
    version: int
    checkpoint_size: int
    epoch: int
    def __init__(self, manifest_hash: _Optional[bytes] = ..., checkpoint_root: _Optional[bytes] = ..., version: _Optional[int] = ..., checkpoint_size: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class SignAnchorUpdateRequest(_message.Message):
    __slots__ = ("agent_id", "chain_id", "contract", "state")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    chain_id: int
    contract: bytes
    state: AnchorState
    def __init__(self, agent_id: _Optional[str] = ..., chain_id: _Optional[int] = ..., contract: _Optional[bytes] = ..., state: _Optional[_Union[AnchorState, _Mapping]] = ...) -> None: ...

class SignAnchorUpdateResponse(_message.Message):
    __slots__ = ("agent_address", "v", "r", "s")
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    V_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    S_FIELD_NUMBER: _ClassVar[int]
    agent_address: bytes
    v: int
    r: bytes
    s: bytes
    def __init__(self, agent_address: _Optional[bytes] = ..., v: _Optional[int] = ..., r: _Optional[bytes] = ..., s: _Optional[bytes] = ...) -> None: ...

class EscrowAgentRootRequest(_message.Message):
    __slots__ = ("agent_id", "guardian_keys", "threshold", "policy_json")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDIAN_KEYS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    guardian_keys: _containers.RepeatedScalarFieldContainer[bytes]
    threshold: int
    policy_json: str
    def __init__(self, agent_id: _Optional[str] = ..., guardian_keys: _Optional[_Iterable[bytes]] = ..., threshold: _Optional[int] = ..., policy_json: _Optional[str] = ...) -> None: ...

class EscrowAgentRootResponse(_message.Message):
    __slots__ = ("sealed_shares",)
    SEALED_SHARES_FIELD_NUMBER: _ClassVar[int]
    sealed_shares: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, sealed_shares: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetGuardianKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetGuardianKeyResponse(_message.Message):
    __slots__ = ("public_key",)
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    def __init__(self, public_key: _Optional[bytes] = ...) -> None: ...

class GuardianChallengeRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GuardianChallengeResponse(_message.Message):
    __slots__ = ("challenge",)
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    challenge: bytes
    def __init__(self, challenge: _Optional[bytes] = ...) -> None: ...

class ReleaseShareRequest(_message.Message):
    __slots__ = ("agent_id", "sealed_share", "recipient", "evidence", "nonce")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEALED_SHARE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    sealed_share: bytes
    recipient: bytes
    evidence: Evidence
    nonce: bytes
    def __init__(self, agent_id: _Optional[str] = ..., sealed_share: _Optional[bytes] = ..., recipient: _Optional[bytes] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class ReleaseShareResponse(_message.Message):
    __slots__ = ("released_share",)
    RELEASED_SHARE_FIELD_NUMBER: _ClassVar[int]
    released_share: bytes
    def __init__(self, released_share: _Optional[bytes] = ...) -> None: ...

class BeginRecoveryRequest(_message.Message):
    __slots__ = ("agent_id", "nonces")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NONCES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    nonces: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, agent_id: _Optional[str] = ..., nonces: _Optional[_Iterable[bytes]] = ...) -> None: ...

class BeginRecoveryResponse(_message.Message):
    __slots__ = ("recipient", "evidence")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    recipient: bytes
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    def __init__(self, recipient: _Optional[bytes] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ...) -> None: ...

class RestoreAgentRequest(_message.Message):
    __slots__ = ("agent_id", "log_verifier_key", "signed_manifest", "chunks", "released_shares", "anchor", "anchor_proof")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOG_VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    RELEASED_SHARES_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_PROOF_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    log_verifier_key: str
    signed_manifest: bytes
    chunks: _containers.RepeatedCompositeFieldContainer[SealedChunk]
    released_shares: _containers.RepeatedScalarFieldContainer[bytes]
    anchor: AnchorState
    anchor_proof: AnchorProof
    def __init__(self, agent_id: _Optional[str] = ..., log_verifier_key: _Optional[str] = ..., signed_manifest: _Optional[bytes] = ..., chunks: _Optional[_Iterable[_Union[SealedChunk, _Mapping]]] = ..., released_shares: _Optional[_Iterable[bytes]] = ..., anchor: _Optional[_Union[AnchorState, _Mapping]] = ..., anchor_proof: _Optional[_Union[AnchorProof, _Mapping]] = ...) -> None: ...

class AnchorProof(_message.Message):
    __slots__ = ("agent_address", "blocks_json", "proof_json")
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_JSON_FIELD_NUMBER: _ClassVar[int]
    PROOF_JSON_FIELD_NUMBER: _ClassVar[int]
    agent_address: bytes
    blocks_json: _containers.RepeatedScalarFieldContainer[bytes]
    proof_json: bytes
    def __init__(self, agent_address: _Optional[bytes] = ..., blocks_json: _Optional[_Iterable[bytes]] = ..., proof_json: _Optional[bytes] = ...) -> None: ...

class RestoreAgentResponse(_message.Message):
    __slots__ = ("agent", "parts", "escrow_shares", "handover_entries", "handover_checkpoint")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    ESCROW_SHARES_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    parts: _containers.RepeatedCompositeFieldContainer[LifeDataPart]
    escrow_shares: _containers.RepeatedScalarFieldContainer[bytes]
    handover_entries: _containers.RepeatedScalarFieldContainer[bytes]
    handover_checkpoint: bytes
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., parts: _Optional[_Iterable[_Union[LifeDataPart, _Mapping]]] = ..., escrow_shares: _Optional[_Iterable[bytes]] = ..., handover_entries: _Optional[_Iterable[bytes]] = ..., handover_checkpoint: _Optional[bytes] = ...) -> None: ...

class CheckAnchorRequest(_message.Message):
    __slots__ = ("agent_id", "anchor_proof")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_PROOF_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    anchor_proof: AnchorProof
    def __init__(self, agent_id: _Optional[str] = ..., anchor_proof: _Optional[_Union[AnchorProof, _Mapping]] = ...) -> None: ...

class CheckAnchorResponse(_message.Message):
    __slots__ = ("anchored", "local_epoch")
    ANCHORED_FIELD_NUMBER: _ClassVar[int]
    LOCAL_EPOCH_FIELD_NUMBER: _ClassVar[int]
    anchored: AnchorState
    local_epoch: int
    def __init__(self, anchored: _Optional[_Union[AnchorState, _Mapping]] = ..., local_epoch: _Optional[int] = ...) -> None: ...

class GetEscrowRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetEscrowResponse(_message.Message):
    __slots__ = ("sealed_shares", "threshold")
    SEALED_SHARES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    sealed_shares: _containers.RepeatedScalarFieldContainer[bytes]
    threshold: int
    def __init__(self, sealed_shares: _Optional[_Iterable[bytes]] = ..., threshold: _Optional[int] = ...) -> None: ...

class MigrationChallengeRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class MigrationChallengeResponse(_message.Message):
    __slots__ = ("challenge", "recipient", "evidence")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    challenge: bytes
    recipient: bytes
    evidence: Evidence
    def __init__(self, challenge: _Optional[bytes] = ..., recipient: _Optional[bytes] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ...) -> None: ...

class ExportAgentRequest(_message.Message):
    __slots__ = ("agent_id", "challenge", "recipient", "evidence")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    challenge: bytes
    recipient: bytes
    evidence: Evidence
    def __init__(self, agent_id: _Optional[str] = ..., challenge: _Optional[bytes] = ..., recipient: _Optional[bytes] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ...) -> None: ...

class ExportAgentResponse(_message.Message):
    __slots__ = ("envelope", "log_size")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    LOG_SIZE_FIELD_NUMBER: _ClassVar[int]
    envelope: bytes
    log_size: int
    def __init__(self, envelope: _Optional[bytes] = ..., log_size: _Optional[int] = ...) -> None: ...

class ImportAgentRequest(_message.Message):
    __slots__ = ("agent_id", "log_verifier_key", "envelope")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOG_VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    log_verifier_key: str
    envelope: bytes
    def __init__(self, agent_id: _Optional[str] = ..., log_verifier_key: _Optional[str] = ..., envelope: _Optional[bytes] = ...) -> None: ...

class ImportAgentResponse(_message.Message):
    __slots__ = ("agent", "log_size", "handover_entries", "handover_checkpoint", "handover_first_index")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    LOG_SIZE_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    HANDOVER_FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    log_size: int
    handover_entries: _containers.RepeatedScalarFieldContainer[bytes]
    handover_checkpoint: bytes
    handover_first_index: int
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., log_size: _Optional[int] = ..., handover_entries: _Optional[_Iterable[bytes]] = ..., handover_checkpoint: _Optional[bytes] = ..., handover_first_index: _Optional[int] = ...) -> None: ...
