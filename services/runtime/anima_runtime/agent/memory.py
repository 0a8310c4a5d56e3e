"""What the runtime needs of the memory service.

`anima_memory_api.client.MemoryClient` (gRPC, the deployed shape),
`anima_memory_api.router.ShardedMemoryClient` (several replicas, routed by
agent) and `anima_memory.service.MemoryService` (in process: tests,
benchmarks, `anima chat`) all satisfy it as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from anima_memory_api.types import (
    CreateResult,
    Matrix,
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
)


class MemoryPort(Protocol):
    async def create(self, drafts: Sequence[MemoryDraft]) -> list[CreateResult]: ...

    async def search(
        self,
        where: MemoryFilter,
        query: Sequence[float] | str,
        *,
        limit: int = 0,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredMemory]: ...

    async def search_many(self, searches: Sequence[SearchQuery]) -> list[list[ScoredMemory]]:
        """Several searches in one round trip; each one's results, in order."""
        ...

    async def get(
        self, agent_id: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> tuple[list[Memory], list[str]]: ...

    async def recent(self, where: MemoryFilter, limit: int = 0) -> list[Memory]: ...

    async def count(self, where: MemoryFilter) -> int: ...

    async def delete(self, agent_id: str, memory_id: str) -> bool: ...

    async def embed(self, texts: Sequence[str]) -> Matrix: ...
