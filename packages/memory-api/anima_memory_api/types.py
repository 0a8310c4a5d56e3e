"""What a memory is, what may filter it, and the rules every field obeys.

Tables and fields follow ElizaOS (`Memory`: id, agentId, entityId, roomId,
content, createdAt, embedding, unique). Validation lives here, before any
store is touched, so a batch with one bad memory writes nothing.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from anima_memory_api.errors import InvalidMemoryRequest

Vector = npt.NDArray[np.float32]
# Rows of unit vectors, one per text (what an embedder returns).
Matrix = npt.NDArray[np.float32]

TABLES: Final = ("messages", "facts", "documents", "fragments", "descriptions", "lore")
DIMENSION: Final = 384  # all-MiniLM-L6-v2
# How far from 1 a vector's L2 norm may be and still count as unit length, left as
# it is. Looser than the store's own test (Qdrant keeps a vector whose squared
# norm is within 1e-6 of 1, else divides it by its norm), so whatever the store
# holds passes here unchanged; float32 normalization leaves |norm - 1| < 1e-6.
UNIT_NORM_TOLERANCE: Final = 1e-5

# Room and entity ids: Eliza uses UUIDs; we also take readable names. Safe as
# payload keywords and in log lines (no spaces, no control characters).
REF_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
REF_ID_RULE: Final = "1-128 characters of letters, digits, '.', '_', ':', '@' or '-'"

# Payload keys, shared by every store adapter so queries mean the same everywhere.
AGENT: Final = "agent"
ROOM: Final = "room"
ENTITY: Final = "entity"
TABLE: Final = "table"
CREATED_AT: Final = "created_at"
TEXT: Final = "text"
FIELDS: Final = "fields"
UNIQUE: Final = "unique"
KEYWORD_FIELDS: Final = (ROOM, ENTITY, TABLE)  # AGENT is the tenant key


@dataclass(frozen=True, slots=True)
class Memory:
    """One stored memory. `vector` is unit-length float32 of the store's dimension."""

    id: str  # canonical lowercase UUID
    agent_id: str
    entity_id: str
    room_id: str
    table: str
    text: str
    created_at_ms: int
    vector: Vector
    fields: Mapping[str, Any] = field(default_factory=dict)  # JSON object
    unique: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            AGENT: self.agent_id,
            ROOM: self.room_id,
            ENTITY: self.entity_id,
            TABLE: self.table,
            CREATED_AT: self.created_at_ms,
            TEXT: self.text,
            FIELDS: dict(self.fields),
            UNIQUE: self.unique,
        }

    @classmethod
    def from_payload(cls, point_id: object, payload: Mapping[str, Any], vector: Any) -> Memory:
        """Rebuild a memory from what a store returns (`vector` may be None)."""
        return cls(
            id=str(point_id),
            agent_id=str(payload[AGENT]),
            entity_id=str(payload[ENTITY]),
            room_id=str(payload[ROOM]),
            table=str(payload[TABLE]),
            text=str(payload[TEXT]),
            created_at_ms=int(payload[CREATED_AT]),
            vector=np.asarray(vector if vector is not None else (), dtype=np.float32),
            fields=dict(payload.get(FIELDS) or {}),
            unique=bool(payload.get(UNIQUE, False)),
        )


@dataclass(frozen=True, slots=True)
class ScoredMemory:
    memory: Memory
    score: float  # cosine similarity, higher is closer


@dataclass(frozen=True, slots=True)
class MemoryFilter:
    """Which memories a query sees: always one agent; the rest narrow it further."""

    agent_id: str
    room_id: str | None = None
    entity_id: str | None = None
    table: str | None = None
    created_from_ms: int | None = None  # inclusive
    created_until_ms: int | None = None  # exclusive


# ------------------------------------------------------------------ validation


def check_memory_id(value: str, what: str = "id") -> str:
    """A memory id must be a UUID; returned in canonical lowercase form."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidMemoryRequest(f"{what} must be a UUID, got {shown(value)}") from None


def check_ref_id(value: str, what: str) -> str:
    if not isinstance(value, str) or REF_ID_PATTERN.fullmatch(value) is None:
        raise InvalidMemoryRequest(f"{what} must be {REF_ID_RULE}, got {shown(value)}")
    return value


def check_table(value: str, what: str = "table") -> str:
    if value not in TABLES:
        raise InvalidMemoryRequest(
            f"{what}: unknown table {shown(value)}; tables: {', '.join(TABLES)}"
        )
    return value


def check_vector(values: Sequence[float] | Vector, dimension: int, what: str) -> Vector:
    """A finite, non-zero vector of `dimension` floats, returned unit-length float32.

    A vector that is unit length already (within UNIT_NORM_TOLERANCE) comes back
    bit for bit: dividing by its float32 norm again would move about a third of
    such vectors by an ulp, so a memory exported and imported would not export
    the same bytes (the export digest covers its vector).
    """
    vector = np.array(values, dtype=np.float32)
    if vector.ndim != 1 or vector.shape[0] != dimension:
        raise InvalidMemoryRequest(
            f"{what} has {vector.size} dimensions; this store holds {dimension}-dimensional vectors"
        )
    if not np.all(np.isfinite(vector)):
        raise InvalidMemoryRequest(f"{what} contains NaN or infinity")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise InvalidMemoryRequest(f"{what} is the zero vector; cosine similarity is undefined")
    if abs(norm - 1.0) <= UNIT_NORM_TOLERANCE:
        return vector
    return vector / np.float32(norm)


def shown(value: object) -> str:
    """A bounded repr of a caller's value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True, slots=True)
class MemoryDraft:
    """A memory as a caller asks for it: `vector` None means embed `text`."""

    agent_id: str
    entity_id: str
    room_id: str
    table: str
    text: str
    id: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    created_at_ms: int | None = None
    vector: Sequence[float] | Vector | None = None
    unique: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search: the memories nearest to `query` (a vector, or a text to embed)
    within `where`; `limit` 0 means the default."""

    where: MemoryFilter
    query: Sequence[float] | Vector | str
    limit: int = 0
    min_score: float | None = None
    with_vectors: bool = False


@dataclass(frozen=True, slots=True)
class CreateResult:
    id: str
    created: bool
    duplicate_of: str = ""
    similarity: float = 0.0
