"""Several memory replicas behind one client: each call goes to its agent's replica.

Replica `i` of `N` serves the agents in shard `i` (anima_memory_api.shards) and
refuses the others, so the router sends every call to the replica of the
agent it names. `verify` checks, before anything is routed, that each replica
serves the shard its place in the list says and that all embed with one model
(a vector from one replica's Embed is searched on another's store).

Batches: a create names one agent (the service refuses a batch that mixes
agents, since all-or-nothing cannot span replicas), so it goes whole to that
agent's replica. A search batch may name several agents: it is split by
replica, the parts run concurrently, and the results come back in request
order. Embed names no agent; the replicas take turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from anima.memory.v1 import memory_pb2 as pb
from anima_memory_api.client import MemoryClient
from anima_memory_api.errors import ReplicaMismatch
from anima_memory_api.shards import ReplicaInfo, Shard, shard_of
from anima_memory_api.types import (
    CreateResult,
    Matrix,
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
)


class ShardedMemoryClient:
    """One MemoryClient per replica, in shard order (replica i serves shard i of N).

    Closing the router closes its replicas' clients.
    """

    def __init__(self, replicas: Sequence[MemoryClient]) -> None:
        if not replicas:
            raise ValueError("a sharded memory client needs at least one replica")
        self._replicas = tuple(replicas)
        self._turn = 0

    @property
    def replicas(self) -> tuple[MemoryClient, ...]:
        return self._replicas

    def replica_for(self, agent_id: str) -> MemoryClient:
        """The replica that serves `agent_id`."""
        return self._replicas[shard_of(agent_id, len(self._replicas))]

    async def verify(self) -> list[ReplicaInfo]:
        """Describe every replica and check it serves the shard its place says
        (ReplicaMismatch if not); returns what each said."""
        infos = list(await asyncio.gather(*(r.describe() for r in self._replicas)))
        check_replicas(infos, [r.address for r in self._replicas])
        return infos

    async def close(self) -> None:
        await asyncio.gather(*(r.close() for r in self._replicas))

    async def __aenter__(self) -> ShardedMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ writes

    async def create(self, drafts: Sequence[MemoryDraft]) -> list[CreateResult]:
        # An empty batch goes anywhere, for the service's own refusal.
        agent_id = drafts[0].agent_id if drafts else ""
        return await self.replica_for(agent_id).create(drafts)

    async def delete(self, agent_id: str, memory_id: str) -> bool:
        return await self.replica_for(agent_id).delete(agent_id, memory_id)

    async def delete_room(self, agent_id: str, room_id: str) -> int:
        return await self.replica_for(agent_id).delete_room(agent_id, room_id)

    async def delete_agent(self, agent_id: str) -> int:
        return await self.replica_for(agent_id).delete_agent(agent_id)

    # ------------------------------------------------------------------ reads

    async def search(
        self,
        where: MemoryFilter,
        query: Sequence[float] | str,
        *,
        limit: int = 0,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredMemory]:
        return await self.replica_for(where.agent_id).search(
            where, query, limit=limit, min_score=min_score, with_vectors=with_vectors
        )

    async def search_many(self, searches: Sequence[SearchQuery]) -> list[list[ScoredMemory]]:
        """Each search's results, in order; searches of agents on several replicas
        are split between them and run concurrently."""
        parts: dict[int, list[int]] = {}
        for n, search in enumerate(searches):
            owner = shard_of(search.where.agent_id, len(self._replicas))
            parts.setdefault(owner, []).append(n)
        if len(parts) <= 1:
            replica = self._replicas[next(iter(parts), 0)]
            return await replica.search_many(searches)
        answers = await asyncio.gather(
            *(
                self._replicas[owner].search_many([searches[n] for n in positions])
                for owner, positions in parts.items()
            )
        )
        results: list[list[ScoredMemory]] = [[] for _ in searches]
        for positions, answer in zip(parts.values(), answers, strict=True):
            for n, found in zip(positions, answer, strict=True):
                results[n] = found
        return results

    async def get(
        self, agent_id: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> tuple[list[Memory], list[str]]:
        return await self.replica_for(agent_id).get(agent_id, ids, with_vectors=with_vectors)

    async def recent(self, where: MemoryFilter, limit: int = 0) -> list[Memory]:
        return await self.replica_for(where.agent_id).recent(where, limit)

    async def count(self, where: MemoryFilter) -> int:
        return await self.replica_for(where.agent_id).count(where)

    async def embed(self, texts: Sequence[str]) -> Matrix:
        replica = self._replicas[self._turn % len(self._replicas)]
        self._turn += 1
        return await replica.embed(texts)

    # ------------------------------------------------------------------ export / import

    def export(self, agent_id: str, batch_size: int = 0) -> AsyncIterator[pb.ExportChunk]:
        return self.replica_for(agent_id).export(agent_id, batch_size)

    async def import_(self, chunks: AsyncIterator[pb.ExportChunk]) -> int:
        """Import into the replica of the agent the stream's header names."""
        stream = aiter(chunks)
        first = await anext(stream, None)
        agent_id = ""  # no header: any replica refuses the stream as corrupt
        if first is not None and first.WhichOneof("part") == "header":
            agent_id = first.header.agent_id
        return await self.replica_for(agent_id).import_(_prepend(first, stream))


def check_replicas(infos: Sequence[ReplicaInfo], addresses: Sequence[str]) -> None:
    """ReplicaMismatch unless replica i of the list serves shard i of len(infos) and
    all embed with one model and dimension; `addresses` name them in messages."""
    count = len(infos)
    if not count:
        raise ValueError("no replicas to check")
    for i, (info, address) in enumerate(zip(infos, addresses, strict=True)):
        expected = Shard(index=i, count=count)
        if info.shard != expected:
            raise ReplicaMismatch(
                f"memory replica {i} ({address}) serves {info.shard}, but its place in the "
                f"list of {count} replicas says {expected}: list the replicas in shard order, "
                "replica i serving shard i"
            )
    first = infos[0]
    for i, (info, address) in enumerate(zip(infos, addresses, strict=True)):
        if (info.embedding_model, info.dimension) != (first.embedding_model, first.dimension):
            raise ReplicaMismatch(
                f"memory replica {i} ({address}) embeds with {info.embedding_model} "
                f"({info.dimension}-d), replica 0 with {first.embedding_model} "
                f"({first.dimension}-d): every replica must use one model"
            )


async def _prepend(
    first: pb.ExportChunk | None, rest: AsyncIterator[pb.ExportChunk]
) -> AsyncIterator[pb.ExportChunk]:
    if first is not None:
        yield first
    async for chunk in rest:
        yield chunk


__all__ = ["ShardedMemoryClient", "check_replicas"]
