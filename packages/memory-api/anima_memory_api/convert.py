"""Protobuf <-> domain conversions for the memory API (no validation here: the
service checks every field, so the rules live in one place)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from anima.memory.v1 import memory_pb2 as pb
from anima_memory_api.errors import InvalidMemoryRequest
from anima_memory_api.types import (
    CreateResult,
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
    Vector,
)


def filter_from_pb(where: pb.MemoryFilter) -> MemoryFilter:
    return MemoryFilter(
        agent_id=where.agent_id,
        room_id=where.room_id or None,
        entity_id=where.entity_id or None,
        table=where.table or None,
        created_from_ms=where.created_from_ms if where.HasField("created_from_ms") else None,
        created_until_ms=where.created_until_ms if where.HasField("created_until_ms") else None,
    )


def draft_from_pb(new: pb.NewMemory) -> MemoryDraft:
    return MemoryDraft(
        id=new.id,
        agent_id=new.agent_id,
        entity_id=new.entity_id,
        room_id=new.room_id,
        table=new.table,
        text=new.content.text,
        fields=fields_from_pb(new.content.fields),
        created_at_ms=new.created_at_ms if new.HasField("created_at_ms") else None,
        vector=list(new.embedding) if new.embedding else None,
        unique=new.unique,
    )


def search_from_pb(request: pb.SearchMemoriesRequest, at: str = "") -> SearchQuery:
    """A search as asked; `at` names it in the error for a missing query ("searches[2].")."""
    kind = request.WhichOneof("query")
    if kind is None:
        raise InvalidMemoryRequest(f"{at}query is required: vector or text")
    return SearchQuery(
        where=filter_from_pb(request.filter),
        query=request.text if kind == "text" else list(request.vector.values),
        limit=request.limit,
        min_score=request.min_score if request.HasField("min_score") else None,
        with_vectors=request.with_embeddings,
    )


def memory_to_pb(memory: Memory, *, with_vector: bool = False) -> pb.Memory:
    message = pb.Memory(
        id=memory.id,
        agent_id=memory.agent_id,
        entity_id=memory.entity_id,
        room_id=memory.room_id,
        table=memory.table,
        content=pb.Content(text=memory.text),
        created_at_ms=memory.created_at_ms,
        unique=memory.unique,
    )
    if memory.fields:
        message.content.fields.update(dict(memory.fields))
    if with_vector:
        message.embedding.extend(memory.vector.tolist())
    return message


def memory_from_pb(message: pb.Memory) -> Memory:
    """A memory from an export stream (checked afterwards by the service)."""
    return Memory(
        id=message.id,
        agent_id=message.agent_id,
        entity_id=message.entity_id,
        room_id=message.room_id,
        table=message.table,
        text=message.content.text,
        created_at_ms=message.created_at_ms,
        vector=np.asarray(message.embedding, dtype=np.float32),
        fields=fields_from_pb(message.content.fields),
        unique=message.unique,
    )


def scored_to_pb(hit: ScoredMemory, *, with_vector: bool) -> pb.ScoredMemory:
    return pb.ScoredMemory(
        memory=memory_to_pb(hit.memory, with_vector=with_vector), score=hit.score
    )


def result_to_pb(result: CreateResult) -> pb.CreateResult:
    return pb.CreateResult(
        id=result.id,
        created=result.created,
        duplicate_of=result.duplicate_of,
        similarity=result.similarity,
    )


def fields_from_pb(fields: struct_pb2.Struct) -> dict[str, Any]:
    """The fields as JSON values, as json_format.MessageToDict gives them (an unset value
    is None; NaN and infinity are refused), by a direct walk: MessageToDict's generic
    printer was ~4% of the runtime's CPU per message reading the room's history (issue
    20; tests/memory/test_convert_fields.py checks the two agree)."""
    if not fields.fields:
        return {}
    try:
        return {key: _json_value(value) for key, value in fields.fields.items()}
    except ValueError:
        raise InvalidMemoryRequest(
            "content.fields is not a JSON object (a value is NaN or infinite)"
        ) from None


def _json_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise ValueError("NaN or infinity")
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {key: _json_value(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_json_value(item) for item in value.list_value.values]
    return None  # null_value, or no kind set


# ---------------------------------------------------------------- client side


def filter_to_pb(where: MemoryFilter) -> pb.MemoryFilter:
    message = pb.MemoryFilter(
        agent_id=where.agent_id,
        room_id=where.room_id or "",
        entity_id=where.entity_id or "",
        table=where.table or "",
    )
    if where.created_from_ms is not None:
        message.created_from_ms = where.created_from_ms
    if where.created_until_ms is not None:
        message.created_until_ms = where.created_until_ms
    return message


def draft_to_pb(draft: MemoryDraft) -> pb.NewMemory:
    message = pb.NewMemory(
        id=draft.id,
        agent_id=draft.agent_id,
        entity_id=draft.entity_id,
        room_id=draft.room_id,
        table=draft.table,
        content=pb.Content(text=draft.text),
        unique=draft.unique,
    )
    if draft.fields:
        message.content.fields.update(dict(draft.fields))
    if draft.created_at_ms is not None:
        message.created_at_ms = draft.created_at_ms
    if draft.vector is not None:
        message.embedding.extend(_floats(draft.vector))
    return message


def search_to_pb(search: SearchQuery) -> pb.SearchMemoriesRequest:
    request = pb.SearchMemoriesRequest(
        filter=filter_to_pb(search.where), limit=search.limit, with_embeddings=search.with_vectors
    )
    if isinstance(search.query, str):
        request.text = search.query
    else:
        request.vector.values.extend(_floats(search.query))
    if search.min_score is not None:
        request.min_score = search.min_score
    return request


def scored_from_pb(message: pb.ScoredMemory) -> ScoredMemory:
    return ScoredMemory(memory=memory_from_pb(message.memory), score=message.score)


def result_from_pb(message: pb.CreateResult) -> CreateResult:
    return CreateResult(
        id=message.id,
        created=message.created,
        duplicate_of=message.duplicate_of,
        similarity=message.similarity,
    )


def _floats(values: Sequence[float] | Vector) -> list[float]:
    # An array's tolist() is many times faster than converting float by float.
    return values.tolist() if isinstance(values, np.ndarray) else [float(x) for x in values]
