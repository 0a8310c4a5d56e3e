"""Two memory processes sharding the agents (replica 0 and 1 of 2, each its own
store), as deployed: writes for many agents routed by ShardedMemoryClient land
only on their agent's replica (each store counted directly once the processes
have stopped), a unique memory is still stored once per agent under concurrent
writers, a replica refuses another shard's agent and stores nothing, and the
runtime's startup refuses a misordered replica list."""

from __future__ import annotations

import argparse
import asyncio
import secrets
from pathlib import Path

import numpy as np
import pytest

from anima_dev.local_memory import LocalMemory, local_memory
from anima_memory.store.edge import EdgeStore
from anima_memory_api.client import MemoryClient
from anima_memory_api.errors import ReplicaMismatch, WrongShard
from anima_memory_api.router import ShardedMemoryClient
from anima_memory_api.shards import Shard, shard_of
from anima_memory_api.types import DIMENSION, MemoryDraft, MemoryFilter
from anima_runtime import cli as runtime_cli

AGENTS = [f"agent-{n:03d}" for n in range(24)]
# Two processes on a shared machine: one model thread each is plenty here.
ONE_THREAD = {"ANIMA_MEMORY_MINILM_THREADS": "1"}


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


def memory(agent_id: str, text: str, seed: int, *, unique: bool = False) -> MemoryDraft:
    return MemoryDraft(
        agent_id=agent_id,
        entity_id="user-1",
        room_id="room-1",
        table="facts" if unique else "messages",
        text=text,
        vector=unit(seed),
        unique=unique,
    )


def client(replica: LocalMemory) -> MemoryClient:
    return MemoryClient.connect(
        replica.address, replica.token, certificate_pem=replica.certificate_pem
    )


def runtime_arguments(replicas: list[LocalMemory], tmp_path: Path) -> argparse.Namespace:
    """`anima runtime serve` flags naming these replicas, in this order."""
    flags = ["runtime", "serve", "--insecure-allow-simulated"]
    for n, replica in enumerate(replicas):
        certificate = tmp_path / f"memory-{n}.pem"
        certificate.write_bytes(replica.certificate_pem)
        flags += ["--memory", replica.address, "--memory-cert", str(certificate)]
    parser = argparse.ArgumentParser(prog="anima")
    runtime_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(flags)


@pytest.mark.slow
async def test_two_replicas_split_the_agents_and_keep_their_guarantees(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)  # one runtime, one token for every replica
    expected = {agent: 0 for agent in AGENTS}
    with (
        local_memory(
            tmp_path / "r0", role="admin", shard=(0, 2), token=token, env=ONE_THREAD
        ) as r0,
        local_memory(
            tmp_path / "r1", role="admin", shard=(1, 2), token=token, env=ONE_THREAD
        ) as r1,
    ):
        replicas = [r0, r1]
        async with ShardedMemoryClient([client(r) for r in replicas]) as router:
            assert [i.shard for i in await router.verify()] == [Shard(0, 2), Shard(1, 2)]

            # Writes for many agents, through the router.
            for n, agent in enumerate(AGENTS):
                k = n % 3 + 1
                await router.create([memory(agent, f"{agent} {i}", n * 10 + i) for i in range(k)])
                expected[agent] += k
            for agent in AGENTS:
                assert await router.count(MemoryFilter(agent_id=agent)) == expected[agent]

            # Unique memories: concurrent writers of one agent still store one, on
            # either replica (its per-agent lock holds, since only it writes the agent).
            for owner in (0, 1):
                agent = next(a for a in AGENTS if shard_of(a, 2) == owner)
                answers = await asyncio.gather(
                    *(
                        router.create([memory(agent, "likes tea", 999, unique=True)])
                        for _ in range(6)
                    )
                )
                results = [r for (r,) in answers]
                (kept,) = [r for r in results if r.created]
                assert all(r.duplicate_of == kept.id for r in results if not r.created)
                expected[agent] += 1

            # Straight to the wrong replica: refused, nothing stored (counted below).
            for agent in (AGENTS[0], AGENTS[1]):
                wrong = router.replicas[1 - shard_of(agent, 2)]
                for call in (
                    wrong.create([memory(agent, "misrouted", 7)]),
                    wrong.count(MemoryFilter(agent_id=agent)),
                ):
                    with pytest.raises(WrongShard) as caught:
                        await call
                    assert f"agent {agent} is in shard" in caught.value.message

        # The runtime's own startup check: a misordered list fails with a clear message.
        misordered = runtime_arguments([r1, r0], tmp_path)
        with pytest.raises(ReplicaMismatch, match=r"replica 0 \(.*\) serves shard 1 of 2"):
            async with runtime_cli.memory_replicas(misordered, token):
                pass
        ordered = runtime_arguments([r0, r1], tmp_path)
        async with runtime_cli.memory_replicas(ordered, token) as memory_service:
            assert (
                await memory_service.count(MemoryFilter(agent_id=AGENTS[5])) == expected[AGENTS[5]]
            )

    # Each replica's own store, opened directly: exactly its agents' memories.
    for index in (0, 1):
        store = EdgeStore.open(tmp_path / f"r{index}" / "memory" / "store")
        try:
            held = {agent: store.count(MemoryFilter(agent_id=agent)) for agent in AGENTS}
            mine = {a: n if shard_of(a, 2) == index else 0 for a, n in expected.items()}
            assert held == mine
            assert store.stats().points == sum(mine.values()) > 0
        finally:
            store.close()
