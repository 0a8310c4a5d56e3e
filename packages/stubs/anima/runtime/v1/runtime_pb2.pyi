from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
LOG_ENTRY_KIND_UNSPECIFIED: LogEntryKind
LOG_ENTRY_KIND_MESSAGE_IN: LogEntryKind
LOG_ENTRY_KIND_RESPONSE: LogEntryKind
LOG_ENTRY_KIND_ACTION: LogEntryKind
LOG_ENTRY_KIND_EVALUATOR: LogEntryKind
LOG_ENTRY_KIND_SIGNATURE: LogEntryKind
LOG_ENTRY_KIND_POLICY_DECISION: LogEntryKind
LOG_ENTRY_KIND_LIFECYCLE: LogEntryKind

class Agent(_message.Message):
    __slots__ = ("agent_id", "name", "running", "created_at", "wallets", "log_verifier_key", "plugins", "unknown_plugins", "model", "problem")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    LOG_VERIFIER_KEY_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_PLUGINS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    running: bool
    created_at: str
    wallets: _containers.RepeatedScalarFieldContainer[str]
    log_verifier_key: str
    plugins: _containers.RepeatedScalarFieldContainer[str]
    unknown_plugins: _containers.RepeatedScalarFieldContainer[str]
    model: str
    problem: str
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., running: _Optional[bool] = ..., created_at: _Optional[str] = ..., wallets: _Optional[_Iterable[str]] = ..., log_verifier_key: _Optional[str] = ..., plugins: _Optional[_Iterable[str]] = ..., unknown_plugins: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., problem: _Optional[str] = ...) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ("character_json", "agent_id", "start")
    CHARACTER_JSON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    character_json: bytes
    agent_id: str
    start: bool
    def __init__(self, character_json: _Optional[bytes] = ..., agent_id: _Optional[str] = ..., start: _Optional[bool] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
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

class StartAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class StartAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class StopAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class StopAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("agent_id", "room_id", "text", "entity_id", "user_name")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    text: str
    entity_id: str
    user_name: str
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., text: _Optional[str] = ..., entity_id: _Optional[str] = ..., user_name: _Optional[str] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("turn",)
    TURN_FIELD_NUMBER: _ClassVar[int]
    turn: Turn
    def __init__(self, turn: _Optional[_Union[Turn, _Mapping]] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("agent_id", "room_id", "message_id", "message_log_index", "decision_log_index", "responses", "actions", "evaluations", "timings")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    DECISION_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    message_id: str
    message_log_index: int
    decision_log_index: int
    responses: _containers.RepeatedCompositeFieldContainer[Reply]
    actions: _containers.RepeatedCompositeFieldContainer[ActionResult]
    evaluations: _containers.RepeatedCompositeFieldContainer[EvaluationResult]
    timings: TurnTimings
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., message_id: _Optional[str] = ..., message_log_index: _Optional[int] = ..., decision_log_index: _Optional[int] = ..., responses: _Optional[_Iterable[_Union[Reply, _Mapping]]] = ..., actions: _Optional[_Iterable[_Union[ActionResult, _Mapping]]] = ..., evaluations: _Optional[_Iterable[_Union[EvaluationResult, _Mapping]]] = ..., timings: _Optional[_Union[TurnTimings, _Mapping]] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("text", "actions", "memory_id", "log_index")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ID_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    text: str
    actions: _containers.RepeatedScalarFieldContainer[str]
    memory_id: str
    log_index: int
    def __init__(self, text: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ..., memory_id: _Optional[str] = ..., log_index: _Optional[int] = ...) -> None: ...

class ActionResult(_message.Message):
    __slots__ = ("name", "ok", "text", "log_index", "data_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    ok: bool
    text: str
    log_index: int
    data_json: str
    def __init__(self, name: _Optional[str] = ..., ok: _Optional[bool] = ..., text: _Optional[str] = ..., log_index: _Optional[int] = ..., data_json: _Optional[str] = ...) -> None: ...

class EvaluationResult(_message.Message):
    __slots__ = ("name", "ok", "summary", "log_index", "data_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    ok: bool
    summary: str
    log_index: int
    data_json: str
    def __init__(self, name: _Optional[str] = ..., ok: _Optional[bool] = ..., summary: _Optional[str] = ..., log_index: _Optional[int] = ..., data_json: _Optional[str] = ...) -> None: ...

class TurnTimings(_message.Message):
    __slots__ = ("model_ms", "total_ms")
    MODEL_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    model_ms: float
    total_ms: float
    def __init__(self, model_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class ListRoomMemoriesRequest(_message.Message):
    __slots__ = ("agent_id", "room_id", "limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    limit: int
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRoomMemoriesResponse(_message.Message):
    __slots__ = ("agent_id", "room_id", "memories")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    memories: _containers.RepeatedCompositeFieldContainer[RoomMemory]
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., memories: _Optional[_Iterable[_Union[RoomMemory, _Mapping]]] = ...) -> None: ...

class RoomMemory(_message.Message):
    __slots__ = ("id", "entity_id", "table", "text", "created_at_ms", "fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    entity_id: str
    table: str
    text: str
    created_at_ms: int
    fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., entity_id: _Optional[str] = ..., table: _Optional[str] = ..., text: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("index", "time_ms", "kind", "actor", "room", "payload_sha256", "payload_size", "payload_redacted", "leaf_hash", "entry")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_REDACTED_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    index: int
    time_ms: int
    kind: LogEntryKind
    actor: str
    room: str
    payload_sha256: bytes
    payload_size: int
    payload_redacted: bool
    leaf_hash: bytes
    entry: bytes
    def __init__(self, index: _Optional[int] = ..., time_ms: _Optional[int] = ..., kind: _Optional[_Union[LogEntryKind, str]] = ..., actor: _Optional[str] = ..., room: _Optional[str] = ..., payload_sha256: _Optional[bytes] = ..., payload_size: _Optional[int] = ..., payload_redacted: _Optional[bool] = ..., leaf_hash: _Optional[bytes] = ..., entry: _Optional[bytes] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: bytes
    def __init__(self, note: _Optional[bytes] = ...) -> None: ...

class ListLogEntriesRequest(_message.Message):
    __slots__ = ("agent_id", "start", "end")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    start: int
    end: int
    def __init__(self, agent_id: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class ListLogEntriesResponse(_message.Message):
    __slots__ = ("size", "entries")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    size: int
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, size: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...

class SearchLogEntriesRequest(_message.Message):
    __slots__ = ("agent_id", "room", "kind", "actor", "since_ms", "until_ms", "after", "limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room: str
    kind: LogEntryKind
    actor: str
    since_ms: int
    until_ms: int
    after: int
    limit: int
    def __init__(self, agent_id: _Optional[str] = ..., room: _Optional[str] = ..., kind: _Optional[_Union[LogEntryKind, str]] = ..., actor: _Optional[str] = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ..., after: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class SearchLogEntriesResponse(_message.Message):
    __slots__ = ("size", "entries", "next_after")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FIELD_NUMBER: _ClassVar[int]
    size: int
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    next_after: int
    def __init__(self, size: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., next_after: _Optional[int] = ...) -> None: ...

class GetLogPayloadRequest(_message.Message):
    __slots__ = ("agent_id", "index")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    index: int
    def __init__(self, agent_id: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class GetLogPayloadResponse(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("agent_id", "index", "size")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    index: int
    size: int
    def __init__(self, agent_id: _Optional[str] = ..., index: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class GetInclusionProofResponse(_message.Message):
    __slots__ = ("index", "size", "leaf_hash", "proof")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    index: int
    size: int
    leaf_hash: bytes
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, index: _Optional[int] = ..., size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("agent_id", "first", "second")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    first: int
    second: int
    def __init__(self, agent_id: _Optional[str] = ..., first: _Optional[int] = ..., second: _Optional[int] = ...) -> None: ...

class GetConsistencyProofResponse(_message.Message):
    __slots__ = ("first", "second", "proof")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    first: int
    second: int
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, first: _Optional[int] = ..., second: _Optional[int] = ..., proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ExportAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class ExportAgentResponse(_message.Message):
    __slots__ = ("record_json",)
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    record_json: bytes
    def __init__(self, record_json: _Optional[bytes] = ...) -> None: ...

class RestoreAgentRequest(_message.Message):
    __slots__ = ("agent_id", "record_json", "log_entries", "checkpoint")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    record_json: bytes
    log_entries: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: bytes
    def __init__(self, agent_id: _Optional[str] = ..., record_json: _Optional[bytes] = ..., log_entries: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[bytes] = ...) -> None: ...

class RestoreAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...
