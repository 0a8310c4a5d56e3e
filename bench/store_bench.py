"""The embedded store (Qdrant Edge) at scale: insert, incremental index builds, search
latency and recall, recent(), count(), and a cold open.

Points are written in batches and `optimize()` runs every --optimize-every points, as
the service's index maintainer would. Searches always name an agent (the tenant
key); "agent+room+table" narrows further. Recall@10 compares the indexed search
with an exact one (`exact=True`) for the same query and filter.

Vectors: --vectors FILE.npy (rows of real embeddings; the last --queries rows
are held out as queries), else clustered synthetic unit vectors: topics of
points whose members are about 0.5 cosine apart, like sentences on one subject.
Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/store_bench.py [--points N] [--vectors FILE.npy] [--optimize-every N]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from machine import machine  # bench/machine.py, beside this script

from anima_memory.store.edge import EdgeStore
from anima_memory_api.types import TABLES, Memory, MemoryFilter

T0 = 1_750_000_000_000  # ms


def synthetic(count: int, dimension: int, topics: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(topics, dimension)).astype(np.float32)
    vectors = centers[rng.integers(0, topics, count)]
    vectors += rng.normal(size=(count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def load_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    if args.vectors is None:
        # Queries from the same topics, never copies of stored points.
        rows = synthetic(args.points + args.queries, args.dimension, args.topics, seed=1)
        return rows[: args.points], rows[args.points :], f"synthetic, {args.topics} topics"
    rows = np.load(args.vectors).astype(np.float32)
    if len(rows) < args.points + args.queries:
        raise SystemExit(f"{args.vectors} has {len(rows)} rows; need --points + --queries")
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    held_out = rows[len(rows) - args.queries :]
    return rows[: args.points], held_out, f"{args.vectors} ({rows.shape[1]}-d)"


class GilWatch:
    """A Python thread that notes its longest wait to run: how long a call held the GIL."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GilWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(0.001):
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.001)
            last = now


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1e3
    return {f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)}


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@dataclass
class Filled:
    insert_s: float = 0.0
    builds: list[tuple[int, float]] = field(default_factory=list)  # (points written, seconds)
    gil_ms: float = 0.0
    unindexed_search_ms: float = 0.0


def fill(store: EdgeStore, vectors: np.ndarray, args: argparse.Namespace) -> Filled:
    rng = np.random.default_rng(2)
    agents = rng.integers(0, args.agents, len(vectors))
    rooms = rng.integers(0, args.rooms, len(vectors))
    tables = rng.integers(0, len(TABLES), len(vectors))
    out = Filled()
    with GilWatch() as gil:
        for start in range(0, len(vectors), args.batch):
            batch = [
                Memory(
                    id=str(uuid.uuid4()),
                    agent_id=f"agent-{agents[i]}",
                    entity_id=f"user-{i % 50}",
                    room_id=f"room-{rooms[i]}",
                    table=TABLES[tables[i]],
                    text=f"memory {i}",
                    created_at_ms=T0 + i // 4,  # a few share each millisecond
                    vector=vectors[i],
                )
                for i in range(start, min(start + args.batch, len(vectors)))
            ]
            out.insert_s += timed(store.upsert, batch)
            written = start + len(batch)
            if written % args.optimize_every == 0 or written == len(vectors):
                if written == len(vectors):  # the last build's points, still unindexed
                    query = vectors[0]
                    where = MemoryFilter(agent_id="agent-0")
                    out.unindexed_search_ms = 1e3 * min(
                        timed(store.search, query, where, 10) for _ in range(20)
                    )
                out.builds.append((written, timed(store.optimize)))
    out.gil_ms = gil.longest * 1e3
    return out


def query_figures(
    store: EdgeStore, queries: np.ndarray, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(3)
    out: dict[str, dict[str, float]] = {}
    shapes: dict[str, Callable[[int], MemoryFilter]] = {
        "agent": lambda a: MemoryFilter(agent_id=f"agent-{a}"),
        "agent+room+table": lambda a: MemoryFilter(
            agent_id=f"agent-{a}",
            room_id=f"room-{rng.integers(0, args.rooms)}",
            table=TABLES[rng.integers(0, len(TABLES))],
        ),
    }
    for name, shape in shapes.items():
        latencies, recalls = [], []
        for query in queries:
            where = shape(int(rng.integers(0, args.agents)))
            start = time.perf_counter()
            hits = store.search(query, where, 10)
            latencies.append(time.perf_counter() - start)
            truth = store.search(query, where, 10, exact=True)
            if truth:
                found = {h.memory.id for h in hits}
                recalls.append(len(found & {t.memory.id for t in truth}) / len(truth))
        out[name] = {**percentiles(latencies), "recall": float(np.mean(recalls))}
    for name, call, extra in (("recent(20)", store.recent, (20,)), ("count", store.count, ())):
        latencies = []
        for _ in range(200):
            where = shapes["agent"](int(rng.integers(0, args.agents)))
            latencies.append(timed(call, where, *extra))
        out[name] = percentiles(latencies)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vectors", type=Path, help="an .npy of embeddings (N x d)")
    parser.add_argument("--dimension", type=int, default=384, help="of synthetic vectors")
    parser.add_argument("--topics", type=int, default=2000, help="of synthetic vectors")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000, help="memories per upsert")
    parser.add_argument("--optimize-every", type=int, default=10_000, help="points")
    parser.add_argument("--hnsw-m", type=int, default=0)
    parser.add_argument("--tenant-m", type=int, default=16)
    parser.add_argument("--search-ef", type=int, default=64)
    parser.add_argument("--float32-only", action="store_true", help="no int8 copies")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    vectors, queries, source = load_vectors(args)
    dimension = vectors.shape[1]
    tuning = {
        "hnsw_m": args.hnsw_m,
        "tenant_m": args.tenant_m,
        "search_ef": args.search_ef,
        "quantize_int8": not args.float32_only,
    }
    print(
        f"{len(vectors):,} points of {dimension}-d ({source}); {args.agents} agents x "
        f"{args.rooms} rooms x {len(TABLES)} tables; {tuning}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        store = EdgeStore.open(path, dimension=dimension, **tuning)
        filled = fill(store, vectors, args)
        stats = store.stats()
        figures = query_figures(store, queries, args)
        store.close()

        start = time.perf_counter()
        store = EdgeStore.open(path, dimension=dimension, **tuning)
        opened = time.perf_counter() - start
        store.search(queries[0], MemoryFilter(agent_id="agent-0"), 10)
        first_search = time.perf_counter() - start
        store.close()

    builds = filled.builds
    last_written, last_build = builds[-1]
    print(
        f"insert: {filled.insert_s:.1f} s ({len(vectors) / filled.insert_s:,.0f}/s, "
        f"batches of {args.batch}, without index builds)"
    )
    print(
        f"index builds: {len(builds)} x optimize() every {args.optimize_every:,} points, "
        f"total {sum(s for _, s in builds):.1f} s, longest {max(s for _, s in builds):.1f} s; "
        f"the last ({last_written - builds[-2][0] if len(builds) > 1 else last_written:,} "
        f"new on top of the rest) {last_build:.1f} s"
    )
    print(f"longest GIL hold seen while filling: {filled.gil_ms:.0f} ms")
    print(
        f"search with the last build's points still unindexed: "
        f"{filled.unindexed_search_ms:.2f} ms (agent filter, best of 20)"
    )
    print(
        f"after: {stats.points:,} points, {stats.indexed_points:,} indexed, {stats.segments} segs"
    )
    print(f"{'query':<18} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'recall@10':>10}")
    for name, f in figures.items():
        recall = f"{f['recall']:.3f}" if "recall" in f else ""
        print(f"{name:<18} {f['p50']:>8.2f} {f['p95']:>8.2f} {f['p99']:>8.2f} {recall:>10}")
    print(f"cold open: {opened * 1e3:.0f} ms to open, {first_search * 1e3:.0f} ms to first result")


if __name__ == "__main__":
    main()
