"""What the memory service accepts: its limits and the checks a request passes
before it reaches the model or the store.

Each check raises InvalidMemoryRequest with a message naming the field at fault
("memories[3].content.text", "searches[2].filter.room_id"), so a caller can act
on it; `what` (or `n`) says where the value sits in the request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from anima_memory_api.errors import InvalidMemoryRequest
from anima_memory_api.types import (
    UNIT_NORM_TOLERANCE,
    Memory,
    MemoryDraft,
    MemoryFilter,
    Vector,
    check_memory_id,
    check_ref_id,
    check_table,
    check_vector,
)
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id

MAX_TIME_MS = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    duplicate_threshold: float = 0.95
    max_text_bytes: int = 64 * 1024
    max_fields_bytes: int = 64 * 1024
    max_batch: int = 1024
    max_results: int = 1000
    max_searches: int = 16  # in one search_many call


def check_agent_id(value: str, what: str = "agent_id") -> str:
    if not is_agent_id(value):
        raise InvalidMemoryRequest(f"{what} must be {AGENT_ID_RULE}")
    return value


def check_time(value: int, what: str) -> int:
    # Qdrant Edge compares times as float64: exact only up to 2**53 ms (year 287,396).
    if not 0 <= value <= MAX_TIME_MS:
        raise InvalidMemoryRequest(f"{what} must be Unix milliseconds in [0, 2**53 - 1]")
    return value


def check_filter(where: MemoryFilter, what: str = "filter") -> MemoryFilter:
    """`where`, checked; `what` names it in error messages ("searches[2].filter")."""
    check_agent_id(where.agent_id, f"{what}.agent_id")
    if where.room_id is not None:
        check_ref_id(where.room_id, f"{what}.room_id")
    if where.entity_id is not None:
        check_ref_id(where.entity_id, f"{what}.entity_id")
    if where.table is not None:
        check_table(where.table, f"{what}.table")
    start, end = where.created_from_ms, where.created_until_ms
    for value, name in ((start, "created_from_ms"), (end, "created_until_ms")):
        if value is not None:
            check_time(value, f"{what}.{name}")
    if start is not None and end is not None and start >= end:
        raise InvalidMemoryRequest(
            f"{what}.created_from_ms ({start}) must be before created_until_ms ({end})"
        )
    return where


def check_draft(
    n: int,
    draft: MemoryDraft,
    agent_id: str,
    now: int,
    *,
    limits: Limits,
    dimension: int,
    vector_checked: bool = False,
) -> Memory:
    """Draft `n` of a batch for `agent_id`, checked, as the memory to store (its vector
    empty when it is to be embedded); `now` is its time when it names none.
    `vector_checked`: the caller checked the vector already (check_vectors)."""
    where = f"memories[{n}]"
    if draft.agent_id != agent_id:
        raise InvalidMemoryRequest(f"{where}.agent_id differs: one agent per batch")
    check_text(draft.text, f"{where}.content.text", limits)
    check_fields(draft.fields, f"{where}.content.fields", limits)
    created = now if draft.created_at_ms is None else draft.created_at_ms
    check_time(created, f"{where}.created_at_ms")
    if draft.vector is None:
        vector = np.zeros(0, dtype=np.float32)
    elif vector_checked:
        vector = np.asarray(draft.vector, dtype=np.float32)
    else:
        vector = check_vector(draft.vector, dimension, f"{where}.embedding")
    return Memory(
        id=check_memory_id(draft.id, f"{where}.id") if draft.id else str(uuid.uuid4()),
        agent_id=agent_id,
        entity_id=check_ref_id(draft.entity_id, f"{where}.entity_id"),
        room_id=check_ref_id(draft.room_id, f"{where}.room_id"),
        table=check_table(draft.table, f"{where}.table"),
        text=draft.text,
        created_at_ms=created,
        vector=vector,
        fields=dict(draft.fields),
        unique=draft.unique,
    )


def check_imported_page(
    start: int, memories: Sequence[Memory], agent_id: str, *, limits: Limits, dimension: int
) -> list[Memory]:
    """A page of an export (its first memory is number `start`), checked as drafts are;
    the vectors in one numpy pass over the page rather than one per memory."""
    vectors = check_vectors(start, [m.vector for m in memories], dimension)
    return [
        check_imported(
            start + n,
            replace(memory, vector=vectors[n]),
            agent_id,
            limits=limits,
            dimension=dimension,
            vector_checked=True,
        )
        for n, memory in enumerate(memories)
    ]


def check_vectors(start: int, vectors: Sequence[Vector], dimension: int) -> list[Vector]:
    """What check_vector returns for each of `vectors` (number `start` onwards), with the
    same errors. Rows clearly unit length come back as given (bit for bit); the others
    (none in an export, whose vectors are unit length) go through check_vector itself,
    so a row near the tolerance is decided exactly as it is for a single vector."""
    if not vectors:
        return []
    if any(v.ndim != 1 or v.shape[0] != dimension for v in vectors):
        return [
            check_vector(v, dimension, f"memories[{start + n}].embedding")
            for n, v in enumerate(vectors)
        ]
    matrix = np.stack(vectors).astype(np.float32, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64))
    # NaN or infinity makes the norm NaN or infinite, so this also sends them below.
    plainly_unit = np.abs(norms - 1.0) <= UNIT_NORM_TOLERANCE / 2
    out = list(matrix)
    for n in np.flatnonzero(~plainly_unit).tolist():
        out[n] = check_vector(vectors[n], dimension, f"memories[{start + n}].embedding")
    return out


def check_imported(
    n: int,
    memory: Memory,
    agent_id: str,
    *,
    limits: Limits,
    dimension: int,
    vector_checked: bool = False,
) -> Memory:
    """Memory `n` of an export being imported into `agent_id`, checked as a draft is."""
    if memory.agent_id != agent_id:
        raise InvalidMemoryRequest(f"memories[{n}] belongs to another agent")
    if not memory.id:
        raise InvalidMemoryRequest(f"memories[{n}] has no id")
    draft = MemoryDraft(
        id=memory.id,
        agent_id=memory.agent_id,
        entity_id=memory.entity_id,
        room_id=memory.room_id,
        table=memory.table,
        text=memory.text,
        fields=memory.fields,
        created_at_ms=memory.created_at_ms,
        vector=memory.vector,
        unique=memory.unique,
    )
    return check_draft(
        n, draft, agent_id, 0, limits=limits, dimension=dimension, vector_checked=vector_checked
    )


def check_text(text: str, what: str, limits: Limits) -> None:
    if not text.strip():
        raise InvalidMemoryRequest(f"{what} is empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidMemoryRequest(f"{what} is not valid Unicode (lone surrogate)") from None
    if size > limits.max_text_bytes:
        raise InvalidMemoryRequest(f"{what} is {size} bytes; at most {limits.max_text_bytes}")


def check_fields(fields: Mapping[str, Any], what: str, limits: Limits) -> None:
    if not all(isinstance(key, str) for key in fields):
        raise InvalidMemoryRequest(f"{what} keys must be strings")
    try:
        size = len(json.dumps(fields, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise InvalidMemoryRequest(f"{what} is not a JSON object: {exc}") from None
    if size > limits.max_fields_bytes:
        raise InvalidMemoryRequest(
            f"{what} is {size} bytes as JSON; at most {limits.max_fields_bytes}"
        )


def check_limit(limit: int, default: int, limits: Limits, what: str = "limit") -> int:
    """`limit` (0: `default`) within the most results a call may ask for."""
    if limit < 0 or limit > limits.max_results:
        raise InvalidMemoryRequest(f"{what} must be 0..{limits.max_results}")
    return limit or default


__all__ = [
    "MAX_TIME_MS",
    "Limits",
    "check_agent_id",
    "check_draft",
    "check_fields",
    "check_filter",
    "check_imported",
    "check_limit",
    "check_text",
    "check_time",
]
