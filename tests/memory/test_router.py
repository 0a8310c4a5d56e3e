"""ShardedMemoryClient over two replicas (shard 0 and 1 of 2, in this process): the
replica check, search batches split across replicas, export and import routed by
the agent. The same over two real processes: test_sharded_processes.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.errors import InvalidMemoryRequest, ReplicaMismatch
from anima_memory_api.router import ShardedMemoryClient, check_replicas
from anima_memory_api.shards import ReplicaInfo, Shard
from anima_memory_api.types import DIMENSION, MemoryFilter, SearchQuery
from tests.memory.conftest import AGENT, OTHER_AGENT, Served, draft, memory_config, serve

# AGENT is in shard 0 of 2, OTHER_AGENT in shard 1 (test_shards.FIXED).


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


@pytest.fixture
async def replicas(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[list[Served]]:
    served = [
        await serve(memory_config(tmp_path / str(i), shard={"index": i, "count": 2}), minilm)
        for i in range(2)
    ]
    yield served
    for s in served:
        await s.running.stop(grace=0.2)


async def test_the_replicas_must_be_given_in_shard_order(replicas: list[Served]) -> None:
    async with ShardedMemoryClient([s.client() for s in replicas]) as router:
        infos = await router.verify()
        assert [i.shard for i in infos] == [Shard(0, 2), Shard(1, 2)]
    async with ShardedMemoryClient([s.client() for s in reversed(replicas)]) as router:
        with pytest.raises(ReplicaMismatch, match=r"replica 0 \(.*\) serves shard 1 of 2"):
            await router.verify()
    async with ShardedMemoryClient([replicas[0].client()]) as router:
        with pytest.raises(ReplicaMismatch, match=r"serves shard 0 of 2, but .* says shard 0 of 1"):
            await router.verify()


def test_replicas_must_share_one_embedding_model() -> None:
    same = [ReplicaInfo(Shard(i, 2), "minilm", 384) for i in range(2)]
    check_replicas(same, ["a", "b"])
    other = [same[0], ReplicaInfo(Shard(1, 2), "text-embedding-3-small", 1536)]
    with pytest.raises(ReplicaMismatch, match=r"replica 1 \(b\) embeds with text-embedding"):
        check_replicas(other, ["a", "b"])


async def test_a_search_batch_across_replicas_answers_in_request_order(
    replicas: list[Served],
) -> None:
    async with ShardedMemoryClient([s.client() for s in replicas]) as router:
        for agent, seed in ((AGENT, 0), (OTHER_AGENT, 100)):
            await router.create(
                [draft(f"{agent} {i}", agent_id=agent, vector=unit(seed + i)) for i in range(5)]
            )
        searches = [
            SearchQuery(MemoryFilter(agent_id=agent), unit(seed), limit=3)
            for agent, seed in ((OTHER_AGENT, 101), (AGENT, 2), (OTHER_AGENT, 103), (AGENT, 4))
        ]
        batch = await router.search_many(searches)
        one_by_one = [
            await router.search(s.where, s.query, limit=s.limit)  # type: ignore[arg-type]
            for s in searches
        ]
        assert [[h.memory.id for h in r] for r in batch] == [
            [h.memory.id for h in r] for r in one_by_one
        ]
        assert [r[0].memory.text for r in batch] == [
            f"{OTHER_AGENT} 1",
            f"{AGENT} 2",
            f"{OTHER_AGENT} 3",
            f"{AGENT} 4",
        ]
        assert await router.search_many([]) == []


async def test_export_and_import_go_to_the_agents_replica(replicas: list[Served]) -> None:
    async with ShardedMemoryClient([s.client("admin") for s in replicas]) as router:
        await router.create(
            [draft(f"m {i}", agent_id=OTHER_AGENT, vector=unit(i)) for i in range(7)]
        )
        chunks = [c async for c in router.export(OTHER_AGENT, 3)]
        assert chunks[-1].trailer.count == 7
        assert await router.delete_agent(OTHER_AGENT) == 7

        async def stream() -> AsyncIterator[pb.ExportChunk]:
            for chunk in chunks:
                yield chunk

        assert await router.import_(stream()) == 7
    assert replicas[1].running.service.store.stats().points == 7
    assert replicas[0].running.service.store.stats().points == 0


async def test_a_create_batch_spanning_agents_is_refused_whole(replicas: list[Served]) -> None:
    async with ShardedMemoryClient([s.client() for s in replicas]) as router:
        mixed = [draft("a", vector=unit(1)), draft("b", agent_id=OTHER_AGENT, vector=unit(2))]
        with pytest.raises(InvalidMemoryRequest) as caught:
            await router.create(mixed)
    assert "one agent per batch" in caught.value.message
    assert [s.running.service.store.stats().points for s in replicas] == [0, 0]
