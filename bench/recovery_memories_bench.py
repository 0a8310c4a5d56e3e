"""RTO, the memory part: --memories memories (random unit vectors, no embedding) in
node A's memory service are exported, sealed into one memories chunk under the agent
root, opened on node B and imported into node B's memory service (vectors carried,
no re-embedding), then searched. Both services run in this process (embedded Qdrant
Edge, gRPC over TLS on loopback). Seconds per step.

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/recovery_memories_bench.py [--memories N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from machine import machine  # bench/machine.py, beside this script

from anima.memory.v1 import memory_pb2 as pb
from anima_core.auth import token_digest
from anima_dasync.memories import pack_export, unpack_export
from anima_memory.app import start_memory
from anima_memory.config import MemoryConfig
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import DIMENSION, MemoryDraft, MemoryFilter
from anima_signer.keys import KeyRing
from anima_signer.lifedata import LifeDataSealer

AGENT = "bench-agent"
TOKEN = "bench-token"


def config(path: Path) -> MemoryConfig:
    return MemoryConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "data_dir": path,
            "callers": {"runtime": token_digest(TOKEN), "dasync": token_digest(TOKEN + "-d")},
            "embedded": {"index_after_points": 1_000_000},
        }
    )


async def run(n: int, root: Path) -> None:
    embedder = MiniLmOnnxEmbedder.load(threads=2)
    a = await start_memory(config(root / "a"), embedder=embedder)
    b = await start_memory(config(root / "b"), embedder=MiniLmOnnxEmbedder.load(threads=2))

    def client(running, role: str = "runtime") -> MemoryClient:  # type: ignore[no-untyped-def]
        token = TOKEN if role == "runtime" else TOKEN + "-d"
        return MemoryClient.connect(
            f"127.0.0.1:{running.port}", token, certificate_pem=running.certificate_pem
        )

    rng = np.random.default_rng(7)
    async with client(a) as c:
        for start in range(0, n, 1_000):
            vectors = rng.standard_normal((min(1_000, n - start), DIMENSION)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            await c.create(
                [
                    MemoryDraft(
                        agent_id=AGENT,
                        entity_id="user-1",
                        room_id="room-1",
                        table="facts",
                        text=f"fact {start + i}: the user likes item {start + i}",
                        vector=v.tolist(),
                    )
                    for i, v in enumerate(vectors)
                ]
            )
    ring_a = KeyRing(root_secret=bytes([1]) * 32)
    ring_a.use_agent_root(AGENT)
    ring_b = KeyRing(root_secret=bytes([2]) * 32)
    ring_b.use_agent_root(AGENT, ring_a.agent_root(AGENT))

    t0 = time.perf_counter()
    async with client(a, "dasync") as c:
        exported = [chunk.SerializeToString() async for chunk in c.export(AGENT, 1_000)]
    t1 = time.perf_counter()
    # Sealed chunks of 10 export batches (10,000 memories) each, as a sync would cut them.
    sealer = LifeDataSealer(keyring=ring_a)
    sealed = [
        sealer.seal_chunk(
            AGENT, kind="memories", plaintext=pack_export(exported[i : i + 10]), items=0, epoch=0
        )
        for i in range(0, len(exported), 10)
    ]
    t2 = time.perf_counter()
    opener = LifeDataSealer(keyring=ring_b)
    plain = [opener.open_chunk(AGENT, ref=ref, data=data, epochs={0}) for ref, data in sealed]
    t3 = time.perf_counter()

    async def stream() -> AsyncIterator[pb.ExportChunk]:
        for part in plain:
            for raw in unpack_export(part):
                yield pb.ExportChunk.FromString(raw)

    async with client(b, "dasync") as c:
        imported = await c.import_(stream())
    t4 = time.perf_counter()
    async with client(b) as c:
        found = await c.search(MemoryFilter(agent_id=AGENT), "what does the user like?", limit=3)
    t5 = time.perf_counter()
    assert imported == n and found
    await a.stop(grace=0.2)
    await b.stop(grace=0.2)

    print(machine())
    size = sum(len(data) for _, data in sealed)
    print(f"{n:,} memories, {len(sealed)} sealed chunks, {size / 1e6:.1f} MB")
    print(f"  export from node A       {t1 - t0:6.2f} s")
    print(f"  seal (node A enclave)    {t2 - t1:6.2f} s")
    print(f"  open (node B enclave)    {t3 - t2:6.2f} s")
    print(f"  import into node B       {t4 - t3:6.2f} s")
    print(f"  first search on node B   {t5 - t4:6.2f} s")
    print(f"  restore total (open + import + first search): {t5 - t2:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.memories, Path(tmp)))


if __name__ == "__main__":
    main()
