"""Memory import speed (issue 15's RTO): an export of --memories memories (random unit
vectors, batches of 1,000 as da-sync's life parts cut them) streamed into an empty
memory service (embedded Qdrant Edge with the index maintainer as deployed, gRPC over
TLS on loopback, in this process), then searched: recall@10 of the graph search
against exact search, right after the import and once the index is built.

Prints wall and CPU seconds (this process: the service and the client, which only
sends ready chunks) and the machine; not a pass/fail test.
Usage: python bench/memory_import_bench.py [--memories N] [--queries Q]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from machine import machine  # bench/machine.py, beside this script

from anima.memory.v1 import memory_pb2 as pb
from anima_core.auth import token_digest
from anima_memory.api.export_stream import write_export
from anima_memory.app import start_memory
from anima_memory.config import EmbeddedStoreConfig, MemoryConfig
from anima_memory.embeddings.minilm import MODEL_NAME
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import DIMENSION, Memory, MemoryFilter

AGENT = "bench-agent"
TOKEN = "bench-token"
PAGE = 1_000
BUILD_DELAY = 1.0  # the deployed default is 10 s; the bench waits it out
GROUP = 10  # memories per cluster: a query near a cluster's centre has them as its top 10


def config(path: Path) -> MemoryConfig:
    return MemoryConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "data_dir": path,
            "callers": {"dasync": token_digest(TOKEN)},
            # (older services, without the field, build during the import)
            "embedded": {"build_after_import_s": BUILD_DELAY}
            if "build_after_import_s" in EmbeddedStoreConfig.model_fields
            else {},
        }
    )


def unit_rows(v: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return unit


def clustered(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors in clusters of GROUP (cosine ~0.8 within one, ~0 across), and the
    clusters' centres. Plain random vectors have no meaningful top 10 in 384 dimensions
    (all near-orthogonal): recall on them measures noise, not the index."""
    centres = unit_rows(rng.standard_normal((n // GROUP, DIMENSION)))
    noise = rng.standard_normal((n, DIMENSION)) / np.sqrt(DIMENSION)
    return unit_rows(np.repeat(centres, GROUP, axis=0) + 0.5 * noise), centres


async def export_chunks(n: int, vs: np.ndarray) -> list[bytes]:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]

    async def pages() -> AsyncIterator[list[Memory]]:
        for at in range(0, n, PAGE):
            yield [
                Memory(
                    id=ids[i],
                    agent_id=AGENT,
                    entity_id="user-1",
                    room_id="room-1",
                    table="facts",
                    text=f"fact {i}: the user likes item {i}",
                    created_at_ms=1_700_000_000_000 + i,
                    vector=vs[i],
                    fields={"n": i},
                )
                for i in range(at, min(n, at + PAGE))
            ]

    return [
        c.SerializeToString()
        async for c in write_export(
            AGENT, dimension=DIMENSION, model=MODEL_NAME, pages=pages(), max_chunk_bytes=16 << 20
        )
    ]


async def run(n: int, queries: int, root: Path) -> None:
    vs, centres = clustered(n, np.random.default_rng(7))
    raw = await export_chunks(n, vs)
    running = await start_memory(config(root))
    client = MemoryClient.connect(
        f"127.0.0.1:{running.port}", TOKEN, certificate_pem=running.certificate_pem
    )

    async def stream() -> AsyncIterator[pb.ExportChunk]:
        for r in raw:
            yield pb.ExportChunk.FromString(r)

    async with client as c:
        cpu0, t0 = time.process_time(), time.perf_counter()
        imported = await c.import_(stream())
        cpu1, t1 = time.process_time(), time.perf_counter()
        assert imported == n
        recall_now, search_now = recall(running, centres, queries)
        stats_now = running.service.store.stats()
        assert running.maintainer is not None
        cpu2 = time.process_time()
        await asyncio.sleep(BUILD_DELAY + 0.2)  # the deferred build starts (sleeping costs no CPU)
        await running.maintainer.wait()
        cpu3 = time.process_time()
        build_wall = getattr(running.maintainer, "build_seconds", float("nan"))
        recall_built, search_built = recall(running, centres, queries)
        stats_built = running.service.store.stats()
    await running.stop(grace=0.2)
    print(machine())
    print(f"{n:,} memories in {len(raw) - 2} batches, {sum(map(len, raw)) / 1e6:.0f} MB")
    print(f"  import: {t1 - t0:6.2f} s wall, {cpu1 - cpu0:6.2f} s CPU")
    print(
        f"  right after it ({stats_now.indexed_points:,} indexed): recall@10 {recall_now:.3f}, "
        f"search p50 {search_now * 1e3:.1f} ms"
    )
    print(f"  deferred index build: {build_wall:6.2f} s wall, {cpu3 - cpu2:6.2f} s CPU (GIL held)")
    print(
        f"  once built ({stats_built.indexed_points:,} indexed, {stats_built.segments} segments): "
        f"recall@10 {recall_built:.3f}, search p50 {search_built * 1e3:.1f} ms"
    )


def recall(running, centres: np.ndarray, queries: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Recall@10 of the service's search (as the runtime's would run) against exact
    search, for queries near random cluster centres; and the median search time."""
    store = running.service.store
    rng = np.random.default_rng(11)
    where = MemoryFilter(agent_id=AGENT)
    hits, times = 0, []
    for c in rng.choice(len(centres), queries, replace=False):
        query = unit_rows(centres[c : c + 1] + 0.2 * rng.standard_normal((1, DIMENSION)) / 20)[0]
        exact = {h.memory.id for h in store.search(query, where, GROUP, exact=True)}
        started = time.perf_counter()
        found = {h.memory.id for h in store.search(query, where, GROUP)}
        times.append(time.perf_counter() - started)
        hits += len(exact & found)
    return hits / (GROUP * queries), float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.memories, args.queries, Path(tmp)))


if __name__ == "__main__":
    main()
