from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BlockRef(_message.Message):
    __slots__ = ("number", "hash", "state_root")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    number: int
    hash: bytes
    state_root: bytes
    def __init__(self, number: _Optional[int] = ..., hash: _Optional[bytes] = ..., state_root: _Optional[bytes] = ...) -> None: ...

class GetVerifiedHeadRequest(_message.Message):
    __slots__ = ("chain_id",)
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    chain_id: int
    def __init__(self, chain_id: _Optional[int] = ...) -> None: ...

class GetVerifiedHeadResponse(_message.Message):
    __slots__ = ("number", "hash", "state_root", "chain_id", "timestamp", "base_fee_per_gas", "checkpoint_hash", "reorgs_seen")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    BASE_FEE_PER_GAS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_HASH_FIELD_NUMBER: _ClassVar[int]
    REORGS_SEEN_FIELD_NUMBER: _ClassVar[int]
    number: int
    hash: bytes
    state_root: bytes
    chain_id: int
    timestamp: int
    base_fee_per_gas: str
    checkpoint_hash: bytes
    reorgs_seen: int
    def __init__(self, number: _Optional[int] = ..., hash: _Optional[bytes] = ..., state_root: _Optional[bytes] = ..., chain_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., base_fee_per_gas: _Optional[str] = ..., checkpoint_hash: _Optional[bytes] = ..., reorgs_seen: _Optional[int] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("address", "block_number")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    block_number: int
    def __init__(self, address: _Optional[bytes] = ..., block_number: _Optional[int] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("block", "balance", "nonce", "storage_root", "code_hash")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CODE_HASH_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    balance: str
    nonce: int
    storage_root: bytes
    code_hash: bytes
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., balance: _Optional[str] = ..., nonce: _Optional[int] = ..., storage_root: _Optional[bytes] = ..., code_hash: _Optional[bytes] = ...) -> None: ...

class GetStorageRequest(_message.Message):
    __slots__ = ("address", "slots", "block_number")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    slots: _containers.RepeatedScalarFieldContainer[bytes]
    block_number: int
    def __init__(self, address: _Optional[bytes] = ..., slots: _Optional[_Iterable[bytes]] = ..., block_number: _Optional[int] = ...) -> None: ...

class GetStorageResponse(_message.Message):
    __slots__ = ("block", "values")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetCodeRequest(_message.Message):
    __slots__ = ("address", "block_number")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    block_number: int
    def __init__(self, address: _Optional[bytes] = ..., block_number: _Optional[int] = ...) -> None: ...

class GetCodeResponse(_message.Message):
    __slots__ = ("block", "code", "code_hash")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CODE_HASH_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    code: bytes
    code_hash: bytes
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., code: _Optional[bytes] = ..., code_hash: _Optional[bytes] = ...) -> None: ...

class CallRequest(_message.Message):
    __slots__ = ("token", "holder", "balances_slot", "block_number")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    BALANCES_SLOT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    token: bytes
    holder: bytes
    balances_slot: int
    block_number: int
    def __init__(self, token: _Optional[bytes] = ..., holder: _Optional[bytes] = ..., balances_slot: _Optional[int] = ..., block_number: _Optional[int] = ...) -> None: ...

class CallResponse(_message.Message):
    __slots__ = ("block", "value")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    value: str
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., value: _Optional[str] = ...) -> None: ...

class GetReceiptRequest(_message.Message):
    __slots__ = ("transaction_hash",)
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    transaction_hash: bytes
    def __init__(self, transaction_hash: _Optional[bytes] = ...) -> None: ...

class Log(_message.Message):
    __slots__ = ("address", "topics", "data", "log_index")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    topics: _containers.RepeatedScalarFieldContainer[bytes]
    data: bytes
    log_index: int
    def __init__(self, address: _Optional[bytes] = ..., topics: _Optional[_Iterable[bytes]] = ..., data: _Optional[bytes] = ..., log_index: _Optional[int] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("transaction_hash", "transaction_index", "success", "gas_used", "cumulative_gas_used", "logs")
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_INDEX_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    GAS_USED_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_GAS_USED_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    transaction_hash: bytes
    transaction_index: int
    success: bool
    gas_used: int
    cumulative_gas_used: int
    logs: _containers.RepeatedCompositeFieldContainer[Log]
    def __init__(self, transaction_hash: _Optional[bytes] = ..., transaction_index: _Optional[int] = ..., success: _Optional[bool] = ..., gas_used: _Optional[int] = ..., cumulative_gas_used: _Optional[int] = ..., logs: _Optional[_Iterable[_Union[Log, _Mapping]]] = ...) -> None: ...

class GetReceiptResponse(_message.Message):
    __slots__ = ("block", "receipt")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    receipt: Receipt
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class GetLogsRequest(_message.Message):
    __slots__ = ("from_block", "to_block", "address", "topic0")
    FROM_BLOCK_FIELD_NUMBER: _ClassVar[int]
    TO_BLOCK_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TOPIC0_FIELD_NUMBER: _ClassVar[int]
    from_block: int
    to_block: int
    address: bytes
    topic0: bytes
    def __init__(self, from_block: _Optional[int] = ..., to_block: _Optional[int] = ..., address: _Optional[bytes] = ..., topic0: _Optional[bytes] = ...) -> None: ...

class BlockLog(_message.Message):
    __slots__ = ("block", "transaction_hash", "log")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    transaction_hash: bytes
    log: Log
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., transaction_hash: _Optional[bytes] = ..., log: _Optional[_Union[Log, _Mapping]] = ...) -> None: ...

class GetLogsResponse(_message.Message):
    __slots__ = ("logs",)
    LOGS_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[BlockLog]
    def __init__(self, logs: _Optional[_Iterable[_Union[BlockLog, _Mapping]]] = ...) -> None: ...

class SendTransactionRequest(_message.Message):
    __slots__ = ("agent_id", "wallet_index", "to", "value", "data", "gas_limit", "idempotency_key", "receipt_timeout_ms")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_INDEX_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    GAS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    wallet_index: int
    to: bytes
    value: str
    data: bytes
    gas_limit: int
    idempotency_key: str
    receipt_timeout_ms: int
    def __init__(self, agent_id: _Optional[str] = ..., wallet_index: _Optional[int] = ..., to: _Optional[bytes] = ..., value: _Optional[str] = ..., data: _Optional[bytes] = ..., gas_limit: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., receipt_timeout_ms: _Optional[int] = ...) -> None: ...

class SendTransactionResponse(_message.Message):
    __slots__ = ("block", "receipt", "nonce", "max_fee_per_gas", "max_priority_fee_per_gas", "signature_log_index", "replayed")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    MAX_FEE_PER_GAS_FIELD_NUMBER: _ClassVar[int]
    MAX_PRIORITY_FEE_PER_GAS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    block: BlockRef
    receipt: Receipt
    nonce: int
    max_fee_per_gas: str
    max_priority_fee_per_gas: str
    signature_log_index: int
    replayed: bool
    def __init__(self, block: _Optional[_Union[BlockRef, _Mapping]] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ..., nonce: _Optional[int] = ..., max_fee_per_gas: _Optional[str] = ..., max_priority_fee_per_gas: _Optional[str] = ..., signature_log_index: _Optional[int] = ..., replayed: _Optional[bool] = ..., **kwargs) -> None: ...
