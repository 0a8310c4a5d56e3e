"""The embedded default: Qdrant Edge in this process, one shard in one directory.

What the engine does, measured with qdrant-edge-py 0.9.0 (bench/store_bench.py):

- Durability: every update goes to the shard's write-ahead log before it
  returns, so it survives the process being killed (kill -9) without a flush.
  The log is written through memory maps and not synced: a power cut can
  lose what was written since the last `flush()`, which `optimize` and
  `close` do (about 10 ms after small writes).
- Every call holds the GIL for its whole run, `optimize()` included; no
  other Python thread runs meanwhile.
- Indexing is manual: new points sit in an unindexed segment (searched
  exactly) until `optimize()` builds their HNSW graph. Segments are capped
  at `segment_points`, so one `optimize()` costs about the points written
  since the last one, not the whole store; but a segment is never split, so
  the caller must optimize before far more than `segment_points` pile up.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import qdrant_edge as qe

from anima_core.files import LockHeld, lock_exclusive
from anima_memory.store.base import StoreStats
from anima_memory.store.filters import edge_filter, newest_first
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

LOCK_FILE = "memory.lock"
_ENGINE_CONFIG = "edge_config.json"  # qdrant-edge writes it beside its segments


class EdgeStore:
    """A VectorStore over a Qdrant Edge shard; `open` is the way in."""

    holds_gil = True  # qdrant-edge 0.9 (see above)

    def __init__(
        self,
        *,
        path: Path,
        shard: qe.EdgeShard,
        lock_fd: int,
        dimension: int,
        search_ef: int,
        quantized: bool = False,
    ) -> None:
        self.path = path
        self._shard: qe.EdgeShard | None = shard
        self._lock_fd: int | None = lock_fd
        self._dimension = dimension
        # Quantized graphs are walked on int8 copies; the best candidates are then
        # rescored on the float32 vectors, so returned scores (and min_score) are exact.
        # An exact search compares the float32 vectors only.
        self._search_params = qe.SearchParams(
            hnsw_ef=search_ef,
            quantization=qe.QuantizationSearchParams(rescore=True) if quantized else None,
        )
        self._exact_params = qe.SearchParams(
            exact=True,
            quantization=qe.QuantizationSearchParams(ignore=True) if quantized else None,
        )

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        dimension: int = DIMENSION,
        hnsw_m: int = 0,
        tenant_m: int = 16,
        ef_construct: int = 100,
        search_ef: int = 64,
        quantize_int8: bool = True,
        full_scan_points: int = 5_000,
        index_points: int = 5_000,
        segment_points: int = 20_000,
        segment_number: int = 2,
    ) -> EdgeStore:
        """Open the store in `path`, creating it if the directory holds none.

        hnsw_m: graph links per point over all agents' memories. Every query
            names one agent, so by default (0) there is no such graph, only one
            per agent (Qdrant's multitenancy layout). With 10 agents that built
            8x faster (0.4 s vs 3 s per 10k points) at the same latency and recall.
        tenant_m: graph links per point within one agent's memories, built in a
            segment where that agent has at least `full_scan_points` memories.
        search_ef: candidates a graph search keeps (per segment). 64 found the same
            top 10 as exact search on 100k real embeddings, at ~60% of 128's CPU.
        quantize_int8: keep an int8 copy of every vector (a quarter of the float32
            size, in RAM) that graph walks and scans compare first; results are
            rescored on the float32 vectors. Measured on 100k real embeddings: the
            same top 10 as exact search, at about half the search CPU.
        full_scan_points: a query whose filter matches fewer memories than this
            in a segment compares them all (exact) instead of walking a graph.
        index_points: `optimize()` leaves segments smaller than this unindexed.
        segment_points / segment_number: optimize merges segments up to
            `segment_points` while there are more than `segment_number`; the
            cap bounds the work of one `optimize()`.

        The tuning is stored with the shard and replaced by what is passed here.
        Raises StoreUnavailable if another process has the directory open or it
        holds vectors of another dimension.
        """
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_fd = _lock(path)
        try:
            stored = _stored_dimension(path)
            if stored is not None and stored != dimension:
                raise StoreUnavailable(
                    f"the memory store at {path} holds {stored}-dimensional vectors, but "
                    f"{dimension}-dimensional ones were asked for (another embedding model?); "
                    "use another store directory, or export and re-import the memories"
                )
            config = _engine_config(
                dimension=dimension,
                hnsw_m=hnsw_m,
                tenant_m=tenant_m,
                ef_construct=ef_construct,
                full_scan_points=full_scan_points,
                index_points=index_points,
                segment_points=segment_points,
                segment_number=segment_number,
                quantize_int8=quantize_int8,
            )
            shard = _open_shard(path, config, create=stored is None)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(
            path=path,
            shard=shard,
            lock_fd=lock_fd,
            dimension=dimension,
            search_ef=search_ef,
            quantized=quantize_int8,
        )

    @property
    def dimension(self) -> int:
        return self._dimension

    # ------------------------------------------------------------------ writes

    def upsert(self, memories: Sequence[Memory]) -> None:
        if not memories:
            return
        points = [qe.Point(m.id, m.vector.tolist(), m.payload()) for m in memories]
        with self._engine("upsert") as shard:
            shard.update(qe.UpdateOperation.upsert_points(points))

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._engine("delete") as shard:
            shard.update(qe.UpdateOperation.delete_points(list(ids)))

    def delete_where(self, where: MemoryFilter) -> None:
        with self._engine("delete") as shard:
            shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter(where)))

    def optimize(self) -> None:
        with self._engine("optimize") as shard:
            shard.optimize()
            shard.flush()  # also trims the write-ahead log, so reopening stays quick

    def flush(self) -> None:
        """Sync everything written so far to disk (power-cut durable, not only kill -9)."""
        with self._engine("flush") as shard:
            shard.flush()

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
        request = qe.SearchRequest(
            query=qe.Query.Nearest(vector.tolist()),
            limit=limit,
            filter=edge_filter(where),
            params=self._exact_params if exact else self._search_params,
            with_payload=True,
            with_vector=with_vectors,
            score_threshold=min_score,
        )
        with self._engine("search") as shard:
            hits = shard.search(request)
        return [
            ScoredMemory(Memory.from_payload(hit.id, hit.payload or {}, hit.vector), hit.score)
            for hit in hits
        ]

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[Memory]:
        if not ids:
            return []
        with self._engine("get") as shard:
            records = shard.retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        found = {str(r.id): Memory.from_payload(r.id, r.payload or {}, r.vector) for r in records}
        return [found[i] for i in ids if i in found]

    def recent(self, where: MemoryFilter, limit: int) -> list[Memory]:
        """Newest first, without vectors; memories of the same millisecond in id order."""
        return newest_first(where, limit, by_time=self._by_time, by_id=self._by_id)

    def count(self, where: MemoryFilter) -> int:
        with self._engine("count") as shard:
            return shard.count(qe.CountRequest(exact=True, filter=edge_filter(where)))

    def scroll(
        self, where: MemoryFilter, offset: str | None, limit: int
    ) -> tuple[list[Memory], str | None]:
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=edge_filter(where),
            with_payload=True,
            with_vector=True,
        )
        with self._engine("scroll") as shard:
            records, next_offset = shard.scroll(request)
        memories = [Memory.from_payload(r.id, r.payload or {}, r.vector) for r in records]
        return memories, None if next_offset is None else str(next_offset)

    def stats(self) -> StoreStats:
        with self._engine("stats") as shard:
            info = shard.info()
        return StoreStats(
            points=info.points_count,
            indexed_points=info.indexed_vectors_count,
            segments=info.segments_count,
        )

    def close(self) -> None:
        """Flush, close the shard and let the next process open the directory (idempotent)."""
        shard, self._shard = self._shard, None
        try:
            if shard is not None:
                try:
                    shard.flush()
                finally:
                    shard.close()
        finally:
            fd, self._lock_fd = self._lock_fd, None
            if fd is not None:
                os.close(fd)  # drops the flock

    # ------------------------------------------------------------------ helpers

    def _by_time(self, where: MemoryFilter, limit: int) -> list[Memory]:
        order = qe.OrderBy(key=CREATED_AT, direction=qe.Direction.Desc)
        return self._page(qe.ScrollRequest(limit=limit, filter=edge_filter(where), order_by=order))

    def _by_id(self, where: MemoryFilter, limit: int) -> list[Memory]:
        return self._page(qe.ScrollRequest(limit=limit, filter=edge_filter(where)))

    def _page(self, request: qe.ScrollRequest) -> list[Memory]:
        with self._engine("recent") as shard:
            records, _ = shard.scroll(request)
        return [Memory.from_payload(r.id, r.payload or {}, None) for r in records]

    @contextmanager
    def _engine(self, doing: str) -> Iterator[qe.EdgeShard]:
        shard = self._shard
        if shard is None:
            raise StoreUnavailable(f"the memory store at {self.path} is closed")
        try:
            yield shard
        except Exception as exc:
            if type(exc) is not Exception:  # the engine's own errors are bare Exceptions
                raise
            raise StoreUnavailable(f"memory store at {self.path}: {doing} failed: {exc}") from exc


def _engine_config(
    *,
    dimension: int,
    hnsw_m: int,
    tenant_m: int,
    ef_construct: int,
    full_scan_points: int,
    index_points: int,
    segment_points: int,
    segment_number: int,
    quantize_int8: bool,
) -> qe.EdgeConfig:
    def kb(points: int) -> int:  # the engine sizes segments in KB of float32 vectors
        return max(1, math.ceil(points * dimension * 4 / 1024))

    quantization = None
    if quantize_int8:
        # quantile 0.99: the int8 range ignores the 1% most extreme coordinates.
        quantization = qe.ScalarQuantizationConfig(
            qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Cached
        )
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine),
        quantization_config=quantization,
        hnsw_config=qe.HnswIndexConfig(
            m=hnsw_m,
            ef_construct=ef_construct,
            full_scan_threshold=kb(full_scan_points),
            payload_m=tenant_m,
        ),
        optimizers=qe.EdgeOptimizersConfig(
            indexing_threshold=kb(index_points),
            max_segment_size=kb(segment_points),
            default_segment_number=segment_number,
            # Deferred points would stay invisible until the next optimize().
            prevent_unoptimized=False,
        ),
        wal_enabled=True,  # what makes a returned write survive kill -9
    )


def _open_shard(path: Path, config: qe.EdgeConfig, *, create: bool) -> qe.EdgeShard:
    try:
        if create:
            shard = qe.EdgeShard.create(str(path), config)
        else:
            shard = qe.EdgeShard.load(str(path), config)
    except Exception as exc:  # the engine raises bare Exceptions
        raise StoreUnavailable(f"cannot open the memory store at {path}: {exc}") from exc
    try:
        _ensure_payload_indexes(shard)
    except BaseException as exc:
        shard.close()
        if type(exc) is Exception:
            raise StoreUnavailable(f"cannot index the memory store at {path}: {exc}") from exc
        raise
    return shard


def _ensure_payload_indexes(shard: qe.EdgeShard) -> None:
    """Agent as the tenant key (grouped storage, a graph per agent); the rest filter only."""
    wanted: dict[str, qe.PayloadSchemaParams] = {
        AGENT: qe.KeywordIndexParams(is_tenant=True),
        **{key: qe.KeywordIndexParams(enable_hnsw=False) for key in KEYWORD_FIELDS},
        # Range is what order_by and time filters need.
        CREATED_AT: qe.IntegerIndexParams(lookup=False, range=True, enable_hnsw=False),
    }
    existing = shard.info().payload_schema
    for key, params in wanted.items():
        if key not in existing:
            shard.update(qe.UpdateOperation.create_field_index(key, params))


def _stored_dimension(path: Path) -> int | None:
    """The vector size of the shard in `path`, or None if there is no shard yet."""
    try:
        config = json.loads((path / _ENGINE_CONFIG).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreUnavailable(f"cannot read {path / _ENGINE_CONFIG}: {exc}") from exc
    try:
        return int(config["vectors"][""]["size"])
    except (KeyError, TypeError, ValueError):
        raise StoreUnavailable(
            f"{path / _ENGINE_CONFIG} does not describe one unnamed dense vector; "
            "this is not a memory store"
        ) from None


def _lock(path: Path) -> int:
    """An exclusive flock on the store directory, held until close (or death) of this process."""
    try:
        return lock_exclusive(path / LOCK_FILE)
    except LockHeld as held:
        raise StoreUnavailable(
            f"the memory store at {path} is open in another process{held.holder}: one process "
            "per store directory; stop the other one or configure another store path"
        ) from None
