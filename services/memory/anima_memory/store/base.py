"""The one interface the memory service queries, whatever Qdrant runs underneath.

Every adapter keeps all agents in one collection with `agent` as the tenant
key and payload indexes on the filter fields (Qdrant's multitenancy advice),
so a query means the same thing embedded and on a cluster.

Adapters are synchronous: the embedded engine is an in-process library and
the service calls adapters from worker threads (short reads inline where a
worker thread would free nothing: `holds_gil`). They trust their inputs
(validated by anima_memory_api.types); `upsert` of one call is one store
operation, so a batch lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from anima_memory_api.types import Memory, MemoryFilter, ScoredMemory, Vector


@dataclass(frozen=True, slots=True)
class StoreStats:
    points: int
    indexed_points: int  # points in segments with an HNSW index
    segments: int


class VectorStore(Protocol):
    """A Qdrant collection of memories for many agents."""

    # True when every call holds the GIL for its whole run (an in-process engine
    # that never releases it): a worker thread then frees nothing for the event
    # loop, so the service makes short reads inline and saves the thread hop.
    holds_gil: bool

    @property
    def dimension(self) -> int: ...

    def upsert(self, memories: Sequence[Memory]) -> None:
        """Insert or overwrite `memories` (by id) in one operation."""

    def search(
        self,
        vector: Vector,
        where: MemoryFilter,
        limit: int,
        *,
        min_score: float | None = None,
        exact: bool = False,
        with_vectors: bool = False,
    ) -> list[ScoredMemory]:
        """Nearest memories by cosine similarity, best first; `exact` skips the index."""

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[Memory]:
        """The memories among `ids` that exist, in the order of `ids`."""

    def recent(self, where: MemoryFilter, limit: int) -> list[Memory]:
        """The newest memories matching `where`, newest first (ties broken by id)."""

    def count(self, where: MemoryFilter) -> int:
        """Exact number of memories matching `where`."""

    def delete(self, ids: Sequence[str]) -> None:
        """Delete these memories (missing ids are ignored)."""

    def delete_where(self, where: MemoryFilter) -> None:
        """Delete every memory matching `where`."""

    def scroll(
        self, where: MemoryFilter, offset: str | None, limit: int
    ) -> tuple[list[Memory], str | None]:
        """A page of memories in id order, with vectors, and the next page's offset."""

    def optimize(self) -> None:
        """Build indexes for what was written since (may take long; call off the hot path)."""

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...
