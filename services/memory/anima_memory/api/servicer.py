"""gRPC transport for the memory service: decode, call MemoryService, encode.

Until the store and the model are loaded, every call is UNAVAILABLE (and
health says NOT_SERVING), so nothing is ever answered from half a service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from anima.memory.v1 import memory_pb2 as pb
from anima.memory.v1 import memory_pb2_grpc as pb_grpc
from anima_memory.api.export_stream import ExportReader, write_export
from anima_memory.config import ROLE_ADMIN, ROLE_DASYNC, ROLE_RUNTIME, ROLES
from anima_memory.service import EXPORT_PAGE, ExportCursor, MemoryService
from anima_memory_api.convert import (
    draft_from_pb,
    filter_from_pb,
    memory_to_pb,
    result_to_pb,
    scored_to_pb,
    search_from_pb,
)
from anima_memory_api.errors import InvalidMemoryRequest, StoreUnavailable
from anima_memory_api.types import Memory, MemoryFilter, ScoredMemory

if TYPE_CHECKING:
    import grpc.aio

    Context = grpc.aio.ServicerContext[Any, Any]
else:
    Context = Any

SERVICE_NAME: Final = "anima.memory.v1.MemoryService"


def _method(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


_DATA = frozenset({ROLE_RUNTIME, ROLE_ADMIN})
_SNAPSHOT = frozenset({ROLE_DASYNC, ROLE_ADMIN})
ACCESS_LIST: Final = {
    **{
        _method(name): _DATA
        for name in (
            "CreateMemory",
            "CreateMemories",
            "SearchMemories",
            "SearchMemoriesBatch",
            "GetMemories",
            "ListRecentMemories",
            "CountMemories",
            "DeleteMemory",
            "DeleteMemories",
            "Embed",
        )
    },
    _method("ExportMemories"): _SNAPSHOT,
    _method("ImportMemories"): _SNAPSHOT,
    _method("ExportMemoryChanges"): _SNAPSHOT,
    # Every caller may ask which shard a replica serves (routers check it on connect).
    _method("Describe"): frozenset(ROLES),
}


class MemoryServicer(pb_grpc.MemoryServiceServicer):  # type: ignore[misc]
    def __init__(self, *, max_message_bytes: int) -> None:
        self._service: MemoryService | None = None
        # Half the channel's limit leaves room for framing and one large memory.
        self._max_chunk_bytes = max_message_bytes // 2

    def attach(self, service: MemoryService) -> None:
        """Start answering (called once the store and the model are loaded)."""
        self._service = service

    @property
    def service(self) -> MemoryService:
        if self._service is None:
            raise StoreUnavailable("memory service is still loading its store and model")
        return self._service

    async def CreateMemory(
        self, request: pb.CreateMemoryRequest, context: Context
    ) -> pb.CreateMemoryResponse:
        if not request.HasField("memory"):
            raise InvalidMemoryRequest("memory is required")
        (result,) = await self.service.create([draft_from_pb(request.memory)])
        return pb.CreateMemoryResponse(result=result_to_pb(result))

    async def CreateMemories(
        self, request: pb.CreateMemoriesRequest, context: Context
    ) -> pb.CreateMemoriesResponse:
        results = await self.service.create([draft_from_pb(m) for m in request.memories])
        return pb.CreateMemoriesResponse(results=[result_to_pb(r) for r in results])

    async def SearchMemories(
        self, request: pb.SearchMemoriesRequest, context: Context
    ) -> pb.SearchMemoriesResponse:
        search = search_from_pb(request)
        hits = await self.service.search(
            search.where,
            search.query,
            limit=search.limit,
            min_score=search.min_score,
            with_vectors=search.with_vectors,
        )
        return _results_pb(hits, with_vectors=search.with_vectors)

    async def SearchMemoriesBatch(
        self, request: pb.SearchMemoriesBatchRequest, context: Context
    ) -> pb.SearchMemoriesBatchResponse:
        searches = [search_from_pb(s, f"searches[{n}].") for n, s in enumerate(request.searches)]
        found = await self.service.search_many(searches)
        return pb.SearchMemoriesBatchResponse(
            results=[
                _results_pb(hits, with_vectors=s.with_vectors)
                for s, hits in zip(searches, found, strict=True)
            ]
        )

    async def GetMemories(
        self, request: pb.GetMemoriesRequest, context: Context
    ) -> pb.GetMemoriesResponse:
        found, missing = await self.service.get(
            request.agent_id, list(request.ids), with_vectors=request.with_embeddings
        )
        return pb.GetMemoriesResponse(
            memories=[memory_to_pb(m, with_vector=request.with_embeddings) for m in found],
            missing_ids=missing,
        )

    async def ListRecentMemories(
        self, request: pb.ListRecentMemoriesRequest, context: Context
    ) -> pb.ListRecentMemoriesResponse:
        memories = await self.service.recent(filter_from_pb(request.filter), request.limit)
        return pb.ListRecentMemoriesResponse(memories=[memory_to_pb(m) for m in memories])

    async def CountMemories(
        self, request: pb.CountMemoriesRequest, context: Context
    ) -> pb.CountMemoriesResponse:
        return pb.CountMemoriesResponse(
            count=await self.service.count(filter_from_pb(request.filter))
        )

    async def DeleteMemory(
        self, request: pb.DeleteMemoryRequest, context: Context
    ) -> pb.DeleteMemoryResponse:
        deleted = await self.service.delete(request.agent_id, request.id)
        return pb.DeleteMemoryResponse(deleted=deleted)

    async def DeleteMemories(
        self, request: pb.DeleteMemoriesRequest, context: Context
    ) -> pb.DeleteMemoriesResponse:
        scope = request.WhichOneof("scope")
        if scope == "room_id":
            where = MemoryFilter(agent_id=request.agent_id, room_id=request.room_id)
        elif scope == "whole_agent" and request.whole_agent:
            where = MemoryFilter(agent_id=request.agent_id)
        else:
            raise InvalidMemoryRequest("scope is required: room_id, or whole_agent = true")
        return pb.DeleteMemoriesResponse(deleted=await self.service.delete_where(where))

    async def Embed(self, request: pb.EmbedRequest, context: Context) -> pb.EmbedResponse:
        matrix = await self.service.embed(list(request.texts))
        return pb.EmbedResponse(
            vectors=[pb.Vector(values=row.tolist()) for row in matrix],
            model=self.service.embedder.model_name,
        )

    async def ExportMemories(
        self, request: pb.ExportMemoriesRequest, context: Context
    ) -> AsyncIterator[pb.ExportMemoriesResponse]:
        service = self.service
        page = request.batch_size or min(EXPORT_PAGE, service.limits.max_batch)
        cursor = ExportCursor()
        async for chunk in write_export(
            request.agent_id,
            dimension=service.dimension,
            model=service.embedder.model_name,
            pages=service.export(request.agent_id, page, cursor),
            max_chunk_bytes=self._max_chunk_bytes,
            sequence=lambda: cursor.sequence,
        ):
            yield pb.ExportMemoriesResponse(chunk=chunk)

    async def ExportMemoryChanges(
        self, request: pb.ExportMemoryChangesRequest, context: Context
    ) -> AsyncIterator[pb.ExportMemoryChangesResponse]:
        service = self.service
        page = request.batch_size or min(EXPORT_PAGE, service.limits.max_batch)
        if not 1 <= page <= service.limits.max_batch:
            raise InvalidMemoryRequest(f"batch_size must be 1..{service.limits.max_batch}")
        # All read under the agent's lock before the first chunk is sent: a delta is
        # one point in time, and a bad cursor fails before any of the stream.
        changed, written = await service.changes(request.agent_id, request.since)

        async def pages() -> AsyncIterator[list[Memory]]:
            for at in range(0, len(written), page):
                yield written[at : at + page]

        async for chunk in write_export(
            request.agent_id,
            dimension=service.dimension,
            model=service.embedder.model_name,
            pages=pages(),
            max_chunk_bytes=self._max_chunk_bytes,
            sequence=lambda: changed.sequence,
            since=changed.since,
            deleted=changed.deleted,
        ):
            yield pb.ExportMemoryChangesResponse(chunk=chunk)

    async def ImportMemories(
        self, request_iterator: AsyncIterator[pb.ImportMemoriesRequest], context: Context
    ) -> pb.ImportMemoriesResponse:
        service = self.service
        reader = ExportReader(
            _unwrap_chunks(request_iterator),
            dimension=service.dimension,
            model=service.embedder.model_name,
        )
        header = await reader.header()
        imported = await service.import_(
            header.agent_id, reader.pages(), sequence=lambda: reader.sequence
        )
        return pb.ImportMemoriesResponse(imported=imported)

    async def Describe(self, request: pb.DescribeRequest, context: Context) -> pb.DescribeResponse:
        service = self.service
        return pb.DescribeResponse(
            shard_index=service.shard.index,
            shard_count=service.shard.count,
            embedding_model=service.embedder.model_name,
            dimension=service.dimension,
        )


async def _unwrap_chunks(
    requests: AsyncIterator[pb.ImportMemoriesRequest],
) -> AsyncIterator[pb.ExportChunk]:
    async for request in requests:
        yield request.chunk


def _results_pb(hits: Sequence[ScoredMemory], *, with_vectors: bool) -> pb.SearchMemoriesResponse:
    return pb.SearchMemoriesResponse(
        results=[scored_to_pb(h, with_vector=with_vectors) for h in hits]
    )
