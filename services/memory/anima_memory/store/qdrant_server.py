"""A Qdrant server or cluster through qdrant-client: the store for scale-out.

The same collection layout as the embedded store (all agents in one
collection, `agent` the tenant key, payload indexes on the filter fields) and
the same filters (store.filters), so a query means the same on both. The
server builds its indexes in the background, so `optimize` has nothing to do.

`QdrantClient(path=...)` (qdrant-client's local mode) speaks the same API, so
`local` and the tests run this adapter without a server. Local mode searches
exactly, ignores payload indexes and says so once with a UserWarning.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import (
    ApiException,
    ResponseHandlingException,
    UnexpectedResponse,
)

from anima_memory.store.base import StoreStats
from anima_memory.store.filters import client_filter, newest_first
from anima_memory_api.errors import StoreUnavailable
from anima_memory_api.types import (
    AGENT,
    CREATED_AT,
    DIMENSION,
    KEYWORD_FIELDS,
    Memory,
    MemoryFilter,
    ScoredMemory,
    Vector,
)

DEFAULT_COLLECTION = "anima_memories"

_SERVER_ERRORS = (ApiException, httpx.HTTPError, grpc.RpcError, OSError)


class QdrantServerStore:
    """A VectorStore over one Qdrant collection; `connect`, `local` or `open` a client."""

    holds_gil = False  # network calls: a worker thread lets the event loop run meanwhile

    def __init__(
        self,
        *,
        client: QdrantClient,
        collection: str,
        dimension: int,
        search_ef: int,
        where: str,
        redact: str | None = None,
    ) -> None:
        self._client = client
        self._collection = collection
        self._dimension = dimension
        self._search_ef = search_ef
        self._where = where  # names the server in messages, without credentials
        self._redact = redact  # never shown, even if an error message were to echo it

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        dimension: int = DIMENSION,
        timeout: float = 10.0,
        search_ef: int = 128,
        hnsw_m: int = 0,
        tenant_m: int = 16,
        ef_construct: int = 100,
    ) -> QdrantServerStore:
        """A store on the server at `url`; StoreUnavailable if it cannot be reached or used."""
        client = QdrantClient(
            url=url,
            api_key=api_key,
            timeout=math.ceil(timeout),
            check_compatibility=False,  # a version probe at construction; `open` checks for real
        )
        return cls.open(
            client,
            collection=collection,
            dimension=dimension,
            search_ef=search_ef,
            hnsw_m=hnsw_m,
            tenant_m=tenant_m,
            ef_construct=ef_construct,
            where=f"Qdrant at {_without_credentials(url)}",
            redact=api_key,
        )

    @classmethod
    def local(
        cls,
        path: Path,
        *,
        collection: str = DEFAULT_COLLECTION,
        dimension: int = DIMENSION,
    ) -> QdrantServerStore:
        """qdrant-client's local mode in `path` (exact search, for development and tests)."""
        try:
            client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # the folder is locked by another client
            raise StoreUnavailable(f"cannot open local Qdrant at {path}: {exc}") from exc
        return cls.open(
            client, collection=collection, dimension=dimension, where=f"local Qdrant at {path}"
        )

    @classmethod
    def open(
        cls,
        client: QdrantClient,
        *,
        collection: str = DEFAULT_COLLECTION,
        dimension: int = DIMENSION,
        search_ef: int = 128,
        hnsw_m: int = 0,
        tenant_m: int = 16,
        ef_construct: int = 100,
        where: str = "Qdrant",
        redact: str | None = None,
    ) -> QdrantServerStore:
        """Use `collection` through `client`, creating it and its payload indexes if missing.

        The HNSW settings apply when the collection is created; an existing one
        keeps its own. As in EdgeStore, the default is a graph per agent and none
        across agents (hnsw_m=0): every query names its agent. Raises
        StoreUnavailable if the collection holds vectors of another size or
        distance, or the server cannot be used.
        """
        store = cls(
            client=client,
            collection=collection,
            dimension=dimension,
            search_ef=search_ef,
            where=where,
            redact=redact,
        )
        store._ensure_collection(hnsw_m=hnsw_m, tenant_m=tenant_m, ef_construct=ef_construct)
        return store

    @property
    def dimension(self) -> int:
        return self._dimension

    # ------------------------------------------------------------------ writes

    def upsert(self, memories: Sequence[Memory]) -> None:
        if not memories:
            return
        points = [
            models.PointStruct(id=m.id, vector=m.vector.tolist(), payload=m.payload())
            for m in memories
        ]
        with self._server("upsert"):
            self._client.upsert(self._collection, points=points, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        selector = models.PointIdsList(points=list(ids))
        with self._server("delete"):
            self._client.delete(self._collection, points_selector=selector, wait=True)

    def delete_where(self, where: MemoryFilter) -> None:
        selector = models.FilterSelector(filter=client_filter(where))
        with self._server("delete"):
            self._client.delete(self._collection, points_selector=selector, wait=True)

    def optimize(self) -> None:
        """Nothing to do: the server indexes new points in the background."""

    # ------------------------------------------------------------------ reads

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
        with self._server("search"):
            response = self._client.query_points(
                self._collection,
                query=vector.tolist(),
                query_filter=client_filter(where),
                search_params=models.SearchParams(hnsw_ef=self._search_ef, exact=exact),
                limit=limit,
                with_payload=True,
                with_vectors=with_vectors,
                score_threshold=min_score,
            )
        return [
            ScoredMemory(Memory.from_payload(p.id, p.payload or {}, p.vector), p.score)
            for p in response.points
        ]

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[Memory]:
        if not ids:
            return []
        with self._server("get"):
            records = self._client.retrieve(
                self._collection, ids=list(ids), with_payload=True, with_vectors=with_vectors
            )
        found = {str(r.id): Memory.from_payload(r.id, r.payload or {}, r.vector) for r in records}
        return [found[i] for i in ids if i in found]

    def recent(self, where: MemoryFilter, limit: int) -> list[Memory]:
        """Newest first, without vectors; memories of the same millisecond in id order."""
        return newest_first(where, limit, by_time=self._by_time, by_id=self._by_id)

    def count(self, where: MemoryFilter) -> int:
        with self._server("count"):
            result = self._client.count(
                self._collection, count_filter=client_filter(where), exact=True
            )
        return result.count

    def scroll(
        self, where: MemoryFilter, offset: str | None, limit: int
    ) -> tuple[list[Memory], str | None]:
        with self._server("scroll"):
            records, next_offset = self._client.scroll(
                self._collection,
                scroll_filter=client_filter(where),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=True,
            )
        memories = [Memory.from_payload(r.id, r.payload or {}, r.vector) for r in records]
        return memories, None if next_offset is None else str(next_offset)

    def stats(self) -> StoreStats:
        with self._server("stats"):
            info = self._client.get_collection(self._collection)
        return StoreStats(
            points=info.points_count or 0,
            indexed_points=info.indexed_vectors_count or 0,
            segments=info.segments_count,
        )

    def close(self) -> None:
        with self._server("close"):
            self._client.close()

    # ------------------------------------------------------------------ helpers

    def _ensure_collection(self, *, hnsw_m: int, tenant_m: int, ef_construct: int) -> None:
        with self._server("open the collection"):
            if not self._client.collection_exists(self._collection):
                self._client.create_collection(
                    self._collection,
                    vectors_config=models.VectorParams(
                        size=self._dimension, distance=models.Distance.COSINE
                    ),
                    hnsw_config=models.HnswConfigDiff(
                        m=hnsw_m, payload_m=tenant_m, ef_construct=ef_construct
                    ),
                )
            info = self._client.get_collection(self._collection)
        vectors = info.config.params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise StoreUnavailable(
                f"collection {self._collection!r} on {self._where} has named vectors; "
                "a memory collection has one unnamed vector"
            )
        if vectors.size != self._dimension or vectors.distance != models.Distance.COSINE:
            raise StoreUnavailable(
                f"collection {self._collection!r} on {self._where} holds "
                f"{vectors.size}-dimensional {vectors.distance.value} vectors, but "
                f"{self._dimension}-dimensional Cosine ones "
                "were asked for (another embedding model?); use another collection, or export "
                "and re-import the memories"
            )
        wanted: dict[str, models.PayloadSchemaParams] = {
            # The tenant key: the server keeps each agent's points together.
            AGENT: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            **{
                key: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD)
                for key in KEYWORD_FIELDS
            },
            # Range is what order_by and time filters need.
            CREATED_AT: models.IntegerIndexParams(
                type=models.IntegerIndexType.INTEGER, lookup=False, range=True
            ),
        }
        for key, schema in wanted.items():
            if key not in info.payload_schema:
                with self._server("create a payload index"):
                    self._client.create_payload_index(
                        self._collection, key, field_schema=schema, wait=True
                    )

    def _by_time(self, where: MemoryFilter, limit: int) -> list[Memory]:
        order = models.OrderBy(key=CREATED_AT, direction=models.Direction.DESC)
        return self._page(where, limit, order)

    def _by_id(self, where: MemoryFilter, limit: int) -> list[Memory]:
        return self._page(where, limit, None)

    def _page(self, where: MemoryFilter, limit: int, order: models.OrderBy | None) -> list[Memory]:
        with self._server("recent"):
            records, _ = self._client.scroll(
                self._collection,
                scroll_filter=client_filter(where),
                limit=limit,
                order_by=order,
                with_payload=True,
                with_vectors=False,
            )
        return [Memory.from_payload(r.id, r.payload or {}, None) for r in records]

    @contextmanager
    def _server(self, doing: str) -> Iterator[None]:
        try:
            yield
        except _SERVER_ERRORS as exc:
            message = f"{self._where}: {doing} failed: {_describe(exc)}"
            if self._redact:
                message = message.replace(self._redact, "[redacted]")
            raise StoreUnavailable(message) from None


def _describe(exc: BaseException) -> str:
    """What went wrong, short: a status and the server's reason, or the transport error."""
    if isinstance(exc, UnexpectedResponse):
        detail = exc.content[:200].decode(errors="replace")
        return f"HTTP {exc.status_code} {exc.reason_phrase}: {detail}"
    if isinstance(exc, ResponseHandlingException):
        return _describe(exc.source)
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return f"gRPC {exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _without_credentials(url: str) -> str:
    """scheme://host:port/path of `url`, dropping any user:password@ and query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number; the client will say so
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")
