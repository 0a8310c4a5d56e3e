"""Where da-sync reads an agent's memories: a whole export (a snapshot) or the changes
since a cursor (a delta), from the memory service's change feed. Nothing here is
trusted: the plaintext is sealed as it is, and a restore checks it whole
(anima_dasync.memories.merge_memory_exports) before importing anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import pack_export
from anima_memory_api.errors import CorruptExport
from anima_memory_api.router import ShardedMemoryClient


@dataclass(frozen=True, slots=True)
class MemoryExportBytes:
    """A memories chunk's plaintext and what it holds."""

    plaintext: bytes
    since: int  # 0: a snapshot
    sequence: int  # the change number it reaches
    written: int
    deleted: int

    @property
    def empty_delta(self) -> bool:
        return self.since > 0 and self.sequence == self.since


class MemorySource(Protocol):
    async def snapshot(self, agent_id: str) -> MemoryExportBytes: ...

    async def changes(self, agent_id: str, since: int) -> MemoryExportBytes:
        """ChangeCursorAhead if the store is behind `since` (another or a reset store)."""


class GrpcMemories:
    """The memory service's ExportMemories / ExportMemoryChanges (the "dasync" role), on
    the shard that serves the agent."""

    def __init__(self, shards: ShardedMemoryClient) -> None:
        self._client = shards

    async def snapshot(self, agent_id: str) -> MemoryExportBytes:
        return await _collect(self._client.replica_for(agent_id).export(agent_id))

    async def changes(self, agent_id: str, since: int) -> MemoryExportBytes:
        replica = self._client.replica_for(agent_id)
        return await _collect(replica.export_changes(agent_id, since))

    async def close(self) -> None:
        await self._client.close()


async def _collect(chunks: AsyncIterator[pb.ExportChunk]) -> MemoryExportBytes:
    raw: list[bytes] = []
    header = trailer = None
    async for chunk in chunks:
        raw.append(chunk.SerializeToString())
        if chunk.HasField("header"):
            header = chunk.header
        elif chunk.HasField("trailer"):
            trailer = chunk.trailer
    if header is None or trailer is None:
        raise CorruptExport("the memory service's export stream ended early")
    return MemoryExportBytes(
        plaintext=pack_export(raw),
        since=header.since,
        sequence=trailer.sequence,
        written=trailer.count,
        deleted=trailer.deleted,
    )
