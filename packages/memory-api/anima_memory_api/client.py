"""Client library for the memory service (used by the runtime and DA sync).

TLS is pinned to the certificate the service published (or one from a CA,
given as PEM); plaintext needs the explicit `insecure_plaintext=True`.
Failed calls raise the service's typed errors (anima_memory_api.errors: ImportRefused,
CorruptExport, ...) from the reason it sends, with its message, and MemoryUnreachable
or MemoryRpcError for a status without one; never grpc's AioRpcError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import grpc.aio
import numpy as np

from anima.memory.v1 import memory_pb2 as pb
from anima.memory.v1 import memory_pb2_grpc as pb_grpc
from anima_core.channels import ServiceClient
from anima_core.errors import ErrorCatalog
from anima_core.interceptors import MalformedRequest
from anima_memory_api.convert import (
    draft_to_pb,
    filter_to_pb,
    memory_from_pb,
    result_from_pb,
    scored_from_pb,
    search_to_pb,
)
from anima_memory_api.endpoint import TLS_SERVER_NAME
from anima_memory_api.errors import (
    ERROR_DOMAIN,
    SERVER_ERRORS,
    MemoryRpcError,
    MemoryUnreachable,
)
from anima_memory_api.shards import ReplicaInfo, Shard
from anima_memory_api.types import (
    CreateResult,
    Matrix,
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
)

DEFAULT_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


#: The memory service's reasons and their errors: what a failed call raises.
ERRORS = ErrorCatalog(
    domain=ERROR_DOMAIN,
    errors=(*SERVER_ERRORS, MalformedRequest),
    rpc_error=MemoryRpcError,
    unreachable=MemoryUnreachable,
)


class MemoryClient(ServiceClient):
    service = "memory service"
    server_name = TLS_SERVER_NAME
    max_message_bytes = MAX_MESSAGE_BYTES
    default_timeout_s = DEFAULT_TIMEOUT_S

    def __init__(
        self, channel: grpc.aio.Channel, token: str, timeout_s: float, *, address: str = ""
    ) -> None:
        super().__init__(channel, token, timeout_s, address=address)
        self._stub = pb_grpc.MemoryServiceStub(channel)

    async def create(self, drafts: Sequence[MemoryDraft]) -> list[CreateResult]:
        with ERRORS:
            response = await self._stub.CreateMemories(
                pb.CreateMemoriesRequest(memories=[draft_to_pb(d) for d in drafts]),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return [result_from_pb(r) for r in response.results]

    async def search(
        self,
        where: MemoryFilter,
        query: Sequence[float] | str,
        *,
        limit: int = 0,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredMemory]:
        request = search_to_pb(SearchQuery(where, query, limit, min_score, with_vectors))
        with ERRORS:
            response = await self._stub.SearchMemories(
                request, metadata=self._metadata, timeout=self._timeout
            )
        return [scored_from_pb(r) for r in response.results]

    async def search_many(self, searches: Sequence[SearchQuery]) -> list[list[ScoredMemory]]:
        """Several searches in one call; each one's results, in order."""
        if not searches:
            return []
        with ERRORS:
            response = await self._stub.SearchMemoriesBatch(
                pb.SearchMemoriesBatchRequest(searches=[search_to_pb(s) for s in searches]),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return [[scored_from_pb(r) for r in found.results] for found in response.results]

    async def get(
        self, agent_id: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> tuple[list[Memory], list[str]]:
        with ERRORS:
            response = await self._stub.GetMemories(
                pb.GetMemoriesRequest(agent_id=agent_id, ids=ids, with_embeddings=with_vectors),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return [memory_from_pb(m) for m in response.memories], list(response.missing_ids)

    async def recent(self, where: MemoryFilter, limit: int = 0) -> list[Memory]:
        with ERRORS:
            response = await self._stub.ListRecentMemories(
                pb.ListRecentMemoriesRequest(filter=filter_to_pb(where), limit=limit),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return [memory_from_pb(m) for m in response.memories]

    async def count(self, where: MemoryFilter) -> int:
        with ERRORS:
            response = await self._stub.CountMemories(
                pb.CountMemoriesRequest(filter=filter_to_pb(where)),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return int(response.count)

    async def delete(self, agent_id: str, memory_id: str) -> bool:
        with ERRORS:
            response = await self._stub.DeleteMemory(
                pb.DeleteMemoryRequest(agent_id=agent_id, id=memory_id),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return bool(response.deleted)

    async def delete_room(self, agent_id: str, room_id: str) -> int:
        return await self._delete_many(pb.DeleteMemoriesRequest(agent_id=agent_id, room_id=room_id))

    async def delete_agent(self, agent_id: str) -> int:
        return await self._delete_many(
            pb.DeleteMemoriesRequest(agent_id=agent_id, whole_agent=True)
        )

    async def _delete_many(self, request: pb.DeleteMemoriesRequest) -> int:
        with ERRORS:
            response = await self._stub.DeleteMemories(
                request, metadata=self._metadata, timeout=self._timeout
            )
        return int(response.deleted)

    async def embed(self, texts: Sequence[str]) -> Matrix:
        with ERRORS:
            response = await self._stub.Embed(
                pb.EmbedRequest(texts=texts), metadata=self._metadata, timeout=self._timeout
            )
        return np.asarray([list(v.values) for v in response.vectors], dtype=np.float32)

    def export(self, agent_id: str, batch_size: int = 0) -> AsyncIterator[pb.ExportChunk]:
        """The agent's export stream, chunk by chunk (no deadline: it may be long)."""
        call = self._stub.ExportMemories(
            pb.ExportMemoriesRequest(agent_id=agent_id, batch_size=batch_size),
            metadata=self._metadata,
        )
        return _chunks(call)

    def export_changes(
        self, agent_id: str, since: int, batch_size: int = 0
    ) -> AsyncIterator[pb.ExportChunk]:
        """The agent's change export after change `since` (its header has `since`, its
        trailer the sequence reached): memories written since, then tombstones."""
        call = self._stub.ExportMemoryChanges(
            pb.ExportMemoryChangesRequest(agent_id=agent_id, since=since, batch_size=batch_size),
            metadata=self._metadata,
        )
        return _chunks(call)

    async def import_(self, chunks: AsyncIterator[pb.ExportChunk]) -> int:
        async def requests() -> AsyncIterator[pb.ImportMemoriesRequest]:
            async for chunk in chunks:
                yield pb.ImportMemoriesRequest(chunk=chunk)

        with ERRORS:
            response = await self._stub.ImportMemories(requests(), metadata=self._metadata)
        return int(response.imported)

    async def describe(self) -> ReplicaInfo:
        """Which shard of the agents this replica serves, and its embedding model."""
        with ERRORS:
            response = await self._stub.Describe(
                pb.DescribeRequest(), metadata=self._metadata, timeout=self._timeout
            )
        return ReplicaInfo(
            shard=Shard(index=response.shard_index, count=response.shard_count),
            embedding_model=response.embedding_model,
            dimension=response.dimension,
        )


async def _chunks(
    call: grpc.aio.UnaryStreamCall[Any, pb.ExportMemoriesResponse]
    | grpc.aio.UnaryStreamCall[Any, pb.ExportMemoryChangesResponse],
) -> AsyncIterator[pb.ExportChunk]:
    try:
        with ERRORS:
            async for response in call:
                yield response.chunk
    finally:
        call.cancel()  # a consumer that stops early ends the export (and its lock)
