"""Memories through DA end to end, with real processes' APIs: node A's memory service
(embedded Qdrant, MiniLM) and signer (simulated TEE); da-sync publishes a snapshot,
then only the change feed's deltas, publishes nothing when nothing changed, and
compacts into a fresh snapshot; node B recovers through guardians, merges snapshot
and deltas (anima_dasync.memories.merge_memory_exports) and imports exactly node A's
memories, vectors and all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from anima.memory.v1 import memory_pb2 as mpb
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.memories import import_restored_memories
from anima_dasync.memory_source import GrpcMemories
from anima_dasync.metrics import DaLag
from anima_dasync.recover import GuardianHold, recover_agent
from anima_dasync.syncer import Syncer, SyncOutcome
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.router import ShardedMemoryClient
from anima_memory_api.types import MemoryFilter
from anima_verify.lifedata import parse_signed_manifest
from tests.dasync.test_dasync_service import DirectoryLogs
from tests.dasync.test_recover_grpc import SIM_POLICY, Node, _entry, _start
from tests.memory.conftest import Served, draft, memory_config, minilm, serve
from tests.memory.test_export_import import unit
from tests.signer.conftest import OPEN_POLICY

__all__ = ["minilm"]  # the session's model, as a fixture here too

AGENT = "alice"


@dataclass
class World:
    a: Node
    b: Node
    guardians: list[Node]
    shares: list[bytes]
    log_verifier_key: str
    memory_a: Served
    memory_b: Served
    logs: DirectoryLogs
    backend: LocalDirectoryBackend
    entries: list[bytes]

    async def append_log(self) -> None:
        async with await self.a.client("runtime") as runtime:
            result = await runtime.append_log(AGENT, len(self.entries), [_entry(1)])
        self.entries += [e.entry for e in result.entries]
        self.logs.write(AGENT, self.entries, result.checkpoint)


@pytest.fixture
async def world(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[World]:
    nodes = [await _start(tmp_path / name) for name in ("a", "b", "g1", "g2")]
    a, b, *guardians = nodes
    memory_a = await serve(memory_config(tmp_path / "memory-a"), minilm)
    memory_b = await serve(memory_config(tmp_path / "memory-b"), minilm)
    try:
        async with await a.client("admin") as admin:
            agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
            keys = []
            for g in guardians:
                async with await g.client("recovery") as gc:
                    keys.append(await gc.guardian_key())
            shares = await admin.escrow_agent_root(
                AGENT, guardian_keys=keys, threshold=2, policy_json=SIM_POLICY
            )
        w = World(
            a=a,
            b=b,
            guardians=guardians,
            shares=shares,
            log_verifier_key=agent.log_verifier_key,
            memory_a=memory_a,
            memory_b=memory_b,
            logs=DirectoryLogs(tmp_path / "logs"),
            backend=LocalDirectoryBackend(root=tmp_path / "da"),
            entries=[],
        )
        await w.append_log()
        yield w
    finally:
        for node in nodes:
            await node.running.stop(grace=0.2)
        for served in (memory_a, memory_b):
            await served.running.stop(grace=0.2)


async def _write(c: MemoryClient, ids: range) -> list[str]:
    return [
        r.id
        for r in await c.create([draft(f"memory {i}", agent_id=AGENT, vector=unit(i)) for i in ids])
    ]


async def _export(c: MemoryClient) -> list[mpb.Memory]:
    return [m for chunk in [x async for x in c.export(AGENT)] for m in chunk.batch.memories]


async def test_snapshot_deltas_compaction_and_a_restore_of_exactly_node_a(world: World) -> None:
    w = world
    lag = DaLag()
    dasync = await w.a.client("dasync")
    memories = GrpcMemories(ShardedMemoryClient([w.memory_a.client("dasync")]))
    syncer = Syncer(
        signer=dasync,
        backend=w.backend,
        logs=w.logs,
        memories=memories,
        compact_after_deltas=2,
        lag=lag,
    )
    outcomes: list[SyncOutcome] = []
    try:
        async with w.memory_a.client() as c:
            ids = await _write(c, range(40))
            outcomes.append(await syncer.sync(AGENT))  # snapshot of 40
            outcomes.append(await syncer.sync(AGENT))  # nothing changed
            await _write(c, range(40, 43))
            assert await c.delete(AGENT, ids[0])
            outcomes.append(await syncer.sync(AGENT))  # delta: 3 written, 1 tombstone
            assert await c.delete(AGENT, ids[1])
            await w.append_log()
            outcomes.append(await syncer.sync(AGENT))  # delta: 1 tombstone, a log entry
            await _write(c, range(43, 44))
            outcomes.append(await syncer.sync(AGENT))  # 2 deltas since: compacted
            assert await c.delete(AGENT, ids[2])
            outcomes.append(await syncer.sync(AGENT))  # a delta after the new snapshot
        async with w.memory_a.client("dasync") as c:
            want = await _export(c)
    finally:
        await memories.close()
        await dasync.close()
    assert [(o.published, o.memories) for o in outcomes] == [
        (True, "snapshot"),
        (False, ""),
        (True, "delta"),
        (True, "delta"),
        (True, "snapshot"),
        (True, "delta"),
    ]
    assert outcomes[1].uploaded_bytes == 0
    # A delta uploads a small fraction of what a whole export does.
    assert outcomes[2].uploaded_bytes * 4 < outcomes[0].uploaded_bytes
    assert lag.pending_bytes(AGENT) == 0 and lag.lag_s(AGENT) >= 0
    assert outcomes[-1].anchored.version == 5
    async with await w.b.client("recovery") as new:
        restored = await recover_agent(
            new,
            [
                GuardianHold(client=await g.client("recovery"), sealed_share=s)
                for g, s in zip(w.guardians, w.shares, strict=True)
            ],
            agent_id=AGENT,
            log_verifier_key=w.log_verifier_key,
            backend=w.backend,
            anchored=outcomes[-1].anchored,
        )
    plaintexts = [p for kind, p, _ in restored.parts if kind == "memories"]
    assert len(plaintexts) == 5  # every memories chunk ever published, in order
    async with w.memory_b.client("dasync") as c:
        assert await import_restored_memories(c, plaintexts, agent_id=AGENT) == 40 + 4 - 3
        got = await _export(c)
    assert [m.id for m in got] == [m.id for m in want]
    for g, m in zip(got, want, strict=True):
        assert g.content.text == m.content.text
        np.testing.assert_array_equal(list(g.embedding), list(m.embedding))
    async with w.memory_b.client() as c:
        assert await c.count(MemoryFilter(agent_id=AGENT)) == 41


class FlakyBackend(LocalDirectoryBackend):
    """The local backend whose next chunk upload fails (a DA outage)."""

    fail_next = False

    def put_chunk(self, chunk_id: str, data: bytes) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("DA backend unreachable")
        super().put_chunk(chunk_id, data)


async def test_a_failed_upload_publishes_nothing_and_the_next_sync_carries_the_change(
    world: World, tmp_path: Path
) -> None:
    w = world
    backend = FlakyBackend(root=tmp_path / "flaky-da")
    lag = DaLag()
    dasync = await w.a.client("dasync")
    memories = GrpcMemories(ShardedMemoryClient([w.memory_a.client("dasync")]))
    syncer = Syncer(signer=dasync, backend=backend, logs=w.logs, memories=memories, lag=lag)
    try:
        async with w.memory_a.client() as c:
            await _write(c, range(5))
            await syncer.sync(AGENT)
            (lost,) = await _write(c, range(5, 6))
            backend.fail_next = True
            with pytest.raises(OSError, match="unreachable"):
                await syncer.sync(AGENT)
            assert backend.latest_version(AGENT) == 1  # no manifest without its chunks
            assert lag.pending_bytes(AGENT) > 0  # read, not durable: the gauge says so
            again = await syncer.sync(AGENT)
    finally:
        await memories.close()
        await dasync.close()
    assert (again.anchored.version, again.memories) == (2, "delta")
    assert lag.pending_bytes(AGENT) == 0
    manifest = parse_signed_manifest(backend.get_manifest(AGENT, 2)).manifest
    assert manifest.counts["memories"] == 6 and manifest.counts["memory_deltas"] == 1
    # The delta the failed round read is the one published: it holds the new memory.
    (delta_ref,) = [r for r in manifest.chunks[3:] if r.kind == "memories"]
    assert delta_ref.items == 1 and lost
