"""The memory issue's targets, measured on the service as deployed: its own process,
TLS, tokens, real MiniLM embeddings of realistic chat sentences (bench/corpus.py).

1. Ingest: texts sent to `anima memory serve` in CreateMemories batches, the service
   embeds and stores them (memories/s including embedding).
2. A 100,000-memory store (one agent, 50 rooms x 6 tables), written with the
   embedded store directly from the same model's vectors and indexed as the
   service's maintainer would; index build time reported.
3. Cold start: `anima memory serve` over that store until health says SERVING.
4. Over gRPC: search p50/p95/p99 unfiltered (the agent's 100k) and filtered
   (agent + room + table), by vector and by text; recall@10 against exact cosine
   computed with numpy over the same vectors; recent() and count() p95.

Embeddings of the corpus are cached in bench/.cache (the model is deterministic).
Prints figures and the machine they ran on; not a pass/fail test.
5. Pauses: search latency (p99, max) over gRPC while --during-ingest more memories
   are ingested, so the service's index build (every 10,000) falls inside.
Usage: python bench/memory_bench.py [--points 100000] [--queries 300] [--ingest 4000]
       [--during-ingest 12000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import grpc.aio
import numpy as np
from corpus import sentences  # bench/corpus.py, beside this script
from grpc_health.v1 import health_pb2, health_pb2_grpc
from machine import machine

from anima_core.auth import token_digest
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory.store.edge import EdgeStore
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import TABLES, Memory, MemoryDraft, MemoryFilter

AGENT = "bench-agent"
ROOMS = 50
TOKEN = "memory-bench-token"
CACHE = Path(__file__).parent / ".cache"


def percentiles(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"


def corpus_vectors(texts: list[str], embedder: MiniLmOnnxEmbedder) -> np.ndarray:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"minilm-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    vectors = asyncio.run(embedder.embed(texts))
    took = time.perf_counter() - started
    print(f"embedded the corpus in-process: {len(texts) / took:,.0f} sentences/s")
    np.save(path, vectors)
    return vectors


def placement(i: int) -> tuple[str, str]:
    return f"room-{i % ROOMS}", TABLES[(i // ROOMS) % len(TABLES)]


def build_store(path: Path, texts: list[str], vectors: np.ndarray, *, int8: bool) -> None:
    store = EdgeStore.open(path, quantize_int8=int8)
    started = time.perf_counter()
    building = 0.0
    for start in range(0, len(texts), 1024):
        batch = []
        for i in range(start, min(start + 1024, len(texts))):
            room, table = placement(i)
            batch.append(
                Memory(
                    id=str(uuid.UUID(int=i + 1)),
                    agent_id=AGENT,
                    entity_id=f"user-{i % 97}",
                    room_id=room,
                    table=table,
                    text=texts[i],
                    created_at_ms=1_750_000_000_000 + i,
                    vector=vectors[i],
                )
            )
        store.upsert(batch)
        stats = store.stats()
        if stats.points - stats.indexed_points >= 10_000:
            t = time.perf_counter()
            store.optimize()
            building += time.perf_counter() - t
    t = time.perf_counter()
    store.optimize()
    building += time.perf_counter() - t
    stats = store.stats()
    print(
        f"built a {stats.points:,}-memory store in {time.perf_counter() - started:.1f} s "
        f"(index builds {building:.1f} s; {stats.indexed_points:,} indexed, "
        f"{stats.segments} segments)"
    )
    store.close()


# The store's tuning, for the service and build_store alike (set by main).
STORE_ENV: dict[str, str] = {}


def start_service(data_dir: Path, store: Path) -> tuple[subprocess.Popen[bytes], int, bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / "ready.json"
    env = {
        **os.environ,
        "ANIMA_MEMORY_CALLERS": json.dumps({"runtime": token_digest(TOKEN)}),
        "ANIMA_MEMORY_EMBEDDED__PATH": str(store),
        "ANIMA_MEMORY_MINILM_THREADS": str(os.cpu_count() or 2),
        **STORE_ENV,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anima_dev.cli",
            "memory",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            "--ready-file",
            str(ready),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    while not ready.exists():
        if process.poll() is not None:
            raise SystemExit("memory service exited during start")
        time.sleep(0.005)
    port = json.loads(ready.read_text())["port"]
    return process, port, (data_dir / "tls" / "memory.pem").read_bytes()


async def wait_serving(port: int, certificate: bytes) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=certificate)
    options = [("grpc.ssl_target_name_override", "anima-memory.local")]
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        while True:
            reply = await health.Check(health_pb2.HealthCheckRequest())
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            await asyncio.sleep(0.005)


async def ingest(client: MemoryClient, texts: list[str], batch: int, streams: int) -> float:
    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]

    async def worker(mine: list[list[str]]) -> None:
        for chunk in mine:
            await client.create(
                [
                    MemoryDraft(
                        agent_id="ingest-agent",
                        entity_id="user-1",
                        room_id="room-1",
                        table="messages",
                        text=t,
                    )
                    for t in chunk
                ]
            )

    started = time.perf_counter()
    await asyncio.gather(*(worker(chunks[s::streams]) for s in range(streams)))
    return len(texts) / (time.perf_counter() - started)


def exact_top10(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None) -> list[int]:
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, 10)[:10]
    return [int(i) for i in top[np.argsort(-scores[top])]]


async def measure_search(
    pid: int,
    client: MemoryClient,
    vectors: np.ndarray,
    queries: np.ndarray,
    query_texts: list[str],
) -> None:
    rooms = np.asarray([placement(i) for i in range(len(vectors))])
    for label, narrow in (("unfiltered (agent only)", False), ("agent+room+table", True)):
        # Ground truth first: numpy's BLAS threads spin after a product and would
        # steal the cores the service needs if interleaved with timed calls.
        cases: list[tuple[MemoryFilter, set[str]]] = []
        for n, query in enumerate(queries):
            where, mask = MemoryFilter(agent_id=AGENT), None
            if narrow:
                room, table = placement(n * 7919)
                where = MemoryFilter(agent_id=AGENT, room_id=room, table=table)
                mask = (rooms[:, 0] == room) & (rooms[:, 1] == table)
            want = {str(uuid.UUID(int=i + 1)) for i in exact_top10(vectors, query, mask)}
            cases.append((where, want))
        await asyncio.sleep(0.5)
        latencies: list[float] = []
        found: list[set[str]] = []
        cpu = service_cpu_s(pid)
        for query, (where, _) in zip(queries, cases, strict=True):
            started = time.perf_counter()
            hits = await client.search(where, query.tolist(), limit=10)
            latencies.append(time.perf_counter() - started)
            found.append({h.memory.id for h in hits})
        per_search = (service_cpu_s(pid) - cpu) / len(queries) * 1e3
        recalls = [len(want & got) / 10 for (_, want), got in zip(cases, found, strict=True)]
        print(
            f"search by vector, {label}: {percentiles(latencies)}; "
            f"service CPU {per_search:.2f} ms/search"
        )
        print(f"  recall@10 vs exact: mean {np.mean(recalls):.3f}, min {np.min(recalls):.2f}")
    latencies = []
    for text in query_texts[:100]:
        started = time.perf_counter()
        await client.search(MemoryFilter(agent_id=AGENT), text, limit=10)
        latencies.append(time.perf_counter() - started)
    print(f"search by text (embeds the query), unfiltered: {percentiles(latencies)}")
    for label, call in (
        (
            "recent(room, 20)",
            lambda n: client.recent(MemoryFilter(AGENT, room_id=f"room-{n % ROOMS}")),
        ),
        (
            "count(room+table)",
            lambda n: client.count(MemoryFilter(AGENT, f"room-{n % ROOMS}", table="facts")),
        ),
    ):
        latencies = []
        for n in range(200):
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)
        print(f"{label}: {percentiles(latencies)}")


async def run_service_phase(
    data_dir: Path, store: Path, vectors: np.ndarray, queries: np.ndarray, query_texts: list[str]
) -> None:
    started = time.perf_counter()
    process, port, certificate = start_service(data_dir, store)
    try:
        await wait_serving(port, certificate)
        print(
            f"cold start with {len(vectors):,} memories stored: "
            f"{time.perf_counter() - started:.2f} s to SERVING (process spawn to health)"
        )
        async with MemoryClient.connect(
            f"127.0.0.1:{port}", TOKEN, certificate_pem=certificate
        ) as client:
            await measure_search(process.pid, client, vectors, queries, query_texts)
    finally:
        process.terminate()
        process.wait(timeout=30)


def service_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def search_during_ingest(client: MemoryClient, texts: list[str]) -> None:
    """Searches one at a time while `texts` are ingested in batches of 256 (2 streams):
    the service's pauses, index builds included, show in the tail of these latencies."""
    where = MemoryFilter(agent_id="ingest-agent")
    query = (await client.embed(["what did we talk about yesterday?"]))[0].tolist()
    latencies: list[float] = []
    done = asyncio.Event()

    async def searcher() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await client.search(where, query, limit=10)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)

    task = asyncio.create_task(searcher())
    try:
        rate = await ingest(client, texts, 256, 2)
    finally:
        done.set()
        await task
    print(
        f"search during an ingest of {len(texts):,} ({rate:,.0f}/s, index builds included): "
        f"{percentiles(latencies)}, max {max(latencies) * 1000:.0f} ms"
    )


async def run_ingest_phase(data_dir: Path, texts: list[str], during: list[str]) -> None:
    process, port, certificate = start_service(data_dir, data_dir / "store")
    try:
        await wait_serving(port, certificate)
        async with MemoryClient.connect(
            f"127.0.0.1:{port}", TOKEN, certificate_pem=certificate
        ) as client:
            await ingest(client, (texts or during)[:256], 64, 2)  # warm-up
            for batch, streams in ((64, 2), (256, 2)) if texts else ():
                cpu = service_cpu_s(process.pid)
                rate = await ingest(client, texts, batch, streams)
                per_memory = (service_cpu_s(process.pid) - cpu) / len(texts) * 1e3
                print(
                    f"ingest over gRPC incl. embedding, batches of {batch}, {streams} streams: "
                    f"{rate:,.0f} memories/s, service CPU {per_memory:.2f} ms/memory"
                )
            if during:
                await search_during_ingest(client, during)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ingest", type=int, default=4_000)
    parser.add_argument(
        "--during-ingest", type=int, default=12_000, help="memories ingested while searching"
    )
    parser.add_argument("--search-ef", type=int, help="the service's default if not given")
    parser.add_argument(
        "--float32-only", action="store_true", help="no int8 copies (the default before)"
    )
    args = parser.parse_args()
    if args.search_ef:
        STORE_ENV["ANIMA_MEMORY_EMBEDDED__SEARCH_EF"] = str(args.search_ef)
    STORE_ENV["ANIMA_MEMORY_EMBEDDED__QUANTIZE_INT8"] = str(not args.float32_only).lower()
    tuning = f"search_ef {args.search_ef or 'default'}, int8 copies {not args.float32_only}"
    print(f"memory bench on {machine()}; {tuning}")
    texts = sentences(args.points + args.queries)
    embedder = MiniLmOnnxEmbedder.load()
    vectors = corpus_vectors(texts, embedder)
    stored, queries = vectors[: args.points], vectors[args.points :]
    words = np.mean([len(t.split()) for t in texts])
    print(f"{len(texts):,} distinct chat sentences, {words:.1f} words on average")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wanted = args.ingest + args.during_ingest
        ingested = sentences(wanted, seed=11) if wanted else []
        if ingested:
            asyncio.run(
                run_ingest_phase(root / "ingest", ingested[: args.ingest], ingested[args.ingest :])
            )
        build_store(root / "store", texts[: args.points], stored, int8=not args.float32_only)
        asyncio.run(
            run_service_phase(root / "serve", root / "store", stored, queries, texts[args.points :])
        )


if __name__ == "__main__":
    main()
