"""Sharding agents between memory replicas: the agent -> shard function (stable,
documented, evenly spread), the shard setting, and a replica refusing every call
for another shard's agent before it touches its store."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima_core.config import ConfigError, load_config
from anima_memory.api.export_stream import FORMAT, VERSION
from anima_memory.config import MemoryConfig
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.errors import InvalidMemoryRequest, WrongShard
from anima_memory_api.shards import Shard, shard_of
from anima_memory_api.types import DIMENSION, MemoryFilter, SearchQuery
from tests.memory.conftest import AGENT, OTHER_AGENT, Served, draft, memory_config, serve

# Computed once, outside Python, from the documented formula:
#   printf '%s' eliza | sha256sum | cut -c1-16   ->  833dc869548f1c4c
# (uint64 9456935147263695948), so any client in any language must agree.
FIXED = [
    ("eliza", 2, 0),
    ("trump", 2, 1),
    ("anima-runtime-probe", 3, 2),
    ("agent-000", 7, 5),
    ("eliza", 1_000_003, 9456935147263695948 % 1_000_003),
    ("trump", 1_000_003, 11964465761297135473 % 1_000_003),
    ("eliza", 1, 0),
]


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


# ---------------------------------------------------------------- the function


@pytest.mark.parametrize(("agent_id", "count", "shard"), FIXED)
def test_shard_of_is_the_documented_formula(agent_id: str, count: int, shard: int) -> None:
    assert shard_of(agent_id, count) == shard


def test_shards_spread_agents_evenly() -> None:
    for count in (2, 3, 8):
        spread = Counter(shard_of(f"agent-{n:05d}", count) for n in range(8000))
        assert sorted(spread) == list(range(count))
        expected = 8000 / count
        assert all(abs(k - expected) < 0.1 * expected for k in spread.values()), spread


def test_a_shard_is_checked() -> None:
    assert Shard() == Shard(index=0, count=1) and Shard().owns("anyone")
    assert Shard.parse("1/2") == Shard(index=1, count=2)
    assert Shard(index=1, count=2).owns(OTHER_AGENT) and not Shard(index=1, count=2).owns(AGENT)
    assert str(Shard(index=1, count=2)) == "shard 1 of 2"
    for index, count in ((2, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match="shard"):
            Shard(index=index, count=count)
    for text in ("1", "2/2", "a/b", "1/2/3", ""):
        with pytest.raises(ValueError, match="shard"):
            Shard.parse(text)
    with pytest.raises(ValueError, match="at least 1"):
        shard_of(AGENT, 0)


def test_the_shard_setting_is_validated() -> None:
    assert MemoryConfig().shard.assignment() == Shard(index=0, count=1)
    config = load_config(
        MemoryConfig,
        env_prefix="ANIMA_MEMORY",
        environ={"ANIMA_MEMORY_SHARD__INDEX": "1", "ANIMA_MEMORY_SHARD__COUNT": "2"},
    )
    assert config.shard.assignment() == Shard(index=1, count=2)
    for index, count in (("2", "2"), ("0", "0"), ("-1", "2")):
        with pytest.raises(ConfigError, match="shard"):
            load_config(
                MemoryConfig,
                env_prefix="ANIMA_MEMORY",
                environ={"ANIMA_MEMORY_SHARD__INDEX": index, "ANIMA_MEMORY_SHARD__COUNT": count},
            )


# ---------------------------------------------------------------- a replica refuses


@pytest.fixture
async def shard_one(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[Served]:
    """Replica 1 of 2: serves OTHER_AGENT (shard 1), refuses AGENT (shard 0)."""
    s = await serve(memory_config(tmp_path, shard={"index": 1, "count": 2}), minilm)
    yield s
    await s.running.stop(grace=0.2)


async def refused(call: Any) -> str:
    with pytest.raises(WrongShard) as caught:
        await call
    assert caught.value.reason == "WRONG_SHARD"
    details = caught.value.message
    assert f"agent {AGENT} is in shard 0 of 2" in details, details
    assert "this replica serves shard 1 of 2" in details, details
    return details


async def test_another_shards_agent_is_refused_and_nothing_is_touched(shard_one: Served) -> None:
    store = shard_one.running.service.store
    everything = MemoryFilter(agent_id=AGENT)
    async with shard_one.client("admin") as c:
        (own,) = await c.create([draft("theirs", agent_id=OTHER_AGENT, vector=unit(1))])
        assert own.created
        before = store.stats().points

        await refused(c.create([draft("mine", vector=unit(2))]))
        await refused(c.create([draft("mine", vector=unit(2), unique=True)]))
        await refused(c.search(everything, unit(2)))
        await refused(c.search(everything, "by text"))
        await refused(
            c.search_many(
                [
                    SearchQuery(MemoryFilter(agent_id=OTHER_AGENT), unit(1)),
                    SearchQuery(everything, unit(2)),
                ]
            )
        )
        await refused(c.get(AGENT, [own.id]))
        await refused(c.recent(everything))
        await refused(c.count(everything))
        await refused(c.delete(AGENT, own.id))
        await refused(c.delete_room(AGENT, "room-1"))
        await refused(c.delete_agent(AGENT))
        await refused(_drain(c.export(AGENT)))
        await refused(c.import_(_header_only(shard_one)))

        assert store.stats().points == before == 1
        # Its own agent and the agent-free calls are served as ever.
        assert await c.count(MemoryFilter(agent_id=OTHER_AGENT)) == 1
        assert (await c.embed(["hello"])).shape == (1, DIMENSION)
        described = await c.describe()
        assert described.shard == Shard(index=1, count=2)
        assert described.dimension == DIMENSION


async def test_a_bad_agent_id_is_still_invalid_not_misrouted(shard_one: Served) -> None:
    async with shard_one.client() as c:
        with pytest.raises(InvalidMemoryRequest) as caught:
            await c.count(MemoryFilter(agent_id="Not An Agent"))
    assert "filter.agent_id" in caught.value.message


async def _drain(chunks: AsyncIterator[pb.ExportChunk]) -> None:
    async for _ in chunks:
        pass


async def _header_only(served: Served) -> AsyncIterator[pb.ExportChunk]:
    service = served.running.service
    yield pb.ExportChunk(
        header=pb.ExportHeader(
            format=FORMAT,
            version=VERSION,
            agent_id=AGENT,
            dimension=service.dimension,
            embedding_model=service.embedder.model_name,
        )
    )
