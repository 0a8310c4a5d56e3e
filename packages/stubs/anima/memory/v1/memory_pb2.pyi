from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Content(_message.Message):
    __slots__ = ("text", "fields")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    text: str
    fields: _struct_pb2.Struct
    def __init__(self, text: _Optional[str] = ..., fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Memory(_message.Message):
    __slots__ = ("id", "agent_id", "entity_id", "room_id", "table", "content", "created_at_ms", "embedding", "unique")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    entity_id: str
    room_id: str
    table: str
    content: Content
    created_at_ms: int
    embedding: _containers.RepeatedScalarFieldContainer[float]
    unique: bool
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., room_id: _Optional[str] = ..., table: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., created_at_ms: _Optional[int] = ..., embedding: _Optional[_Iterable[float]] = ..., unique: _Optional[bool] = ...) -> None: ...

class NewMemory(_message.Message):
    __slots__ = ("id", "agent_id", "entity_id", "room_id", "table", "content", "created_at_ms", "embedding", "unique")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    entity_id: str
    room_id: str
    table: str
    content: Content
    created_at_ms: int
    embedding: _containers.RepeatedScalarFieldContainer[float]
    unique: bool
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., room_id: _Optional[str] = ..., table: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., created_at_ms: _Optional[int] = ..., embedding: _Optional[_Iterable[float]] = ..., unique: _Optional[bool] = ...) -> None: ...

class CreateResult(_message.Message):
    __slots__ = ("id", "created", "duplicate_of", "similarity")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    created: bool
    duplicate_of: str
    similarity: float
    def __init__(self, id: _Optional[str] = ..., created: _Optional[bool] = ..., duplicate_of: _Optional[str] = ..., similarity: _Optional[float] = ...) -> None: ...

class CreateMemoryRequest(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: NewMemory
    def __init__(self, memory: _Optional[_Union[NewMemory, _Mapping]] = ...) -> None: ...

class CreateMemoryResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: CreateResult
    def __init__(self, result: _Optional[_Union[CreateResult, _Mapping]] = ...) -> None: ...

class CreateMemoriesRequest(_message.Message):
    __slots__ = ("memories",)
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[NewMemory]
    def __init__(self, memories: _Optional[_Iterable[_Union[NewMemory, _Mapping]]] = ...) -> None: ...

class CreateMemoriesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CreateResult]
    def __init__(self, results: _Optional[_Iterable[_Union[CreateResult, _Mapping]]] = ...) -> None: ...

class MemoryFilter(_message.Message):
    __slots__ = ("agent_id", "room_id", "entity_id", "table", "created_from_ms", "created_until_ms")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    entity_id: str
    table: str
    created_from_ms: int
    created_until_ms: int
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., table: _Optional[str] = ..., created_from_ms: _Optional[int] = ..., created_until_ms: _Optional[int] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchMemoriesRequest(_message.Message):
    __slots__ = ("filter", "vector", "text", "limit", "min_score", "with_embeddings")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    WITH_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    filter: MemoryFilter
    vector: Vector
    text: str
    limit: int
    min_score: float
    with_embeddings: bool
    def __init__(self, filter: _Optional[_Union[MemoryFilter, _Mapping]] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., text: _Optional[str] = ..., limit: _Optional[int] = ..., min_score: _Optional[float] = ..., with_embeddings: _Optional[bool] = ...) -> None: ...

class ScoredMemory(_message.Message):
    __slots__ = ("memory", "score")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    memory: Memory
    score: float
    def __init__(self, memory: _Optional[_Union[Memory, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class SearchMemoriesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ScoredMemory]
    def __init__(self, results: _Optional[_Iterable[_Union[ScoredMemory, _Mapping]]] = ...) -> None: ...

class SearchMemoriesBatchRequest(_message.Message):
    __slots__ = ("searches",)
    SEARCHES_FIELD_NUMBER: _ClassVar[int]
    searches: _containers.RepeatedCompositeFieldContainer[SearchMemoriesRequest]
    def __init__(self, searches: _Optional[_Iterable[_Union[SearchMemoriesRequest, _Mapping]]] = ...) -> None: ...

class SearchMemoriesBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchMemoriesResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SearchMemoriesResponse, _Mapping]]] = ...) -> None: ...

class GetMemoriesRequest(_message.Message):
    __slots__ = ("agent_id", "ids", "with_embeddings")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    with_embeddings: bool
    def __init__(self, agent_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., with_embeddings: _Optional[bool] = ...) -> None: ...

class GetMemoriesResponse(_message.Message):
    __slots__ = ("memories", "missing_ids")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[Memory]
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, memories: _Optional[_Iterable[_Union[Memory, _Mapping]]] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRecentMemoriesRequest(_message.Message):
    __slots__ = ("filter", "limit")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    filter: MemoryFilter
    limit: int
    def __init__(self, filter: _Optional[_Union[MemoryFilter, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRecentMemoriesResponse(_message.Message):
    __slots__ = ("memories",)
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[Memory]
    def __init__(self, memories: _Optional[_Iterable[_Union[Memory, _Mapping]]] = ...) -> None: ...

class CountMemoriesRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: MemoryFilter
    def __init__(self, filter: _Optional[_Union[MemoryFilter, _Mapping]] = ...) -> None: ...

class CountMemoriesResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class DeleteMemoryRequest(_message.Message):
    __slots__ = ("agent_id", "id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    id: str
    def __init__(self, agent_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteMemoryResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class DeleteMemoriesRequest(_message.Message):
    __slots__ = ("agent_id", "room_id", "whole_agent")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    WHOLE_AGENT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    room_id: str
    whole_agent: bool
    def __init__(self, agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., whole_agent: _Optional[bool] = ...) -> None: ...

class DeleteMemoriesResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("vectors", "model")
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[Vector]
    model: str
    def __init__(self, vectors: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ..., model: _Optional[str] = ...) -> None: ...

class ExportMemoriesRequest(_message.Message):
    __slots__ = ("agent_id", "batch_size")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    batch_size: int
    def __init__(self, agent_id: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("header", "batch", "trailer")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    header: ExportHeader
    batch: MemoryBatch
    trailer: ExportTrailer
    def __init__(self, header: _Optional[_Union[ExportHeader, _Mapping]] = ..., batch: _Optional[_Union[MemoryBatch, _Mapping]] = ..., trailer: _Optional[_Union[ExportTrailer, _Mapping]] = ...) -> None: ...

class ExportHeader(_message.Message):
    __slots__ = ("format", "version", "agent_id", "dimension", "embedding_model", "exported_at_ms", "since")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    EXPORTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    format: str
    version: int
    agent_id: str
    dimension: int
    embedding_model: str
    exported_at_ms: int
    since: int
    def __init__(self, format: _Optional[str] = ..., version: _Optional[int] = ..., agent_id: _Optional[str] = ..., dimension: _Optional[int] = ..., embedding_model: _Optional[str] = ..., exported_at_ms: _Optional[int] = ..., since: _Optional[int] = ...) -> None: ...

class MemoryBatch(_message.Message):
    __slots__ = ("memories", "deleted_ids")
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    DELETED_IDS_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[Memory]
    deleted_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, memories: _Optional[_Iterable[_Union[Memory, _Mapping]]] = ..., deleted_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportTrailer(_message.Message):
    __slots__ = ("count", "sha256", "sequence", "deleted")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    count: int
    sha256: bytes
    sequence: int
    deleted: int
    def __init__(self, count: _Optional[int] = ..., sha256: _Optional[bytes] = ..., sequence: _Optional[int] = ..., deleted: _Optional[int] = ...) -> None: ...

class ExportMemoriesResponse(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: ExportChunk
    def __init__(self, chunk: _Optional[_Union[ExportChunk, _Mapping]] = ...) -> None: ...

class ImportMemoriesRequest(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: ExportChunk
    def __init__(self, chunk: _Optional[_Union[ExportChunk, _Mapping]] = ...) -> None: ...

class ImportMemoriesResponse(_message.Message):
    __slots__ = ("imported",)
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    imported: int
    def __init__(self, imported: _Optional[int] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("shard_index", "shard_count", "embedding_model", "dimension")
    SHARD_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARD_COUNT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    shard_index: int
    shard_count: int
    embedding_model: str
    dimension: int
    def __init__(self, shard_index: _Optional[int] = ..., shard_count: _Optional[int] = ..., embedding_model: _Optional[str] = ..., dimension: _Optional[int] = ...) -> None: ...

class ExportMemoryChangesRequest(_message.Message):
    __slots__ = ("agent_id", "since", "batch_size")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    since: int
    batch_size: int
    def __init__(self, agent_id: _Optional[str] = ..., since: _Optional[int] = ..., batch_size: _Optional[int] = ...) -> None: ...

class ExportMemoryChangesResponse(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: ExportChunk
    def __init__(self, chunk: _Optional[_Union[ExportChunk, _Mapping]] = ...) -> None: ...
