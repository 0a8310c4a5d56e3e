"""Where da-sync reads an agent's memories: a whole export (a snapshot) or the changes
since a cursor (a delta), from the memory service's change feed. Nothing here is
trusted: the plaintext is sealed as it is, and a restore checks it whole
(anima_dasync.memories.merge_memory_exports) before importing anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final, Protocol

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import pack_export
from anima_memory_api.errors import CorruptExport
from anima_memory_api.router import ShardedMemoryClient

# A memories chunk's plaintext stays under this (cut between export chunks, which
# concatenate back, anima_dasync.memories._export_streams): a snapshot of 100k memories
# then fits the signer's message limit as several chunks.
MAX_PART_BYTES: Final = 16 << 20
# Memories per export batch: node B's import of 1,000-memory batches is faster than
# of the service's default 256 (docs/performance.md, the recovery RTO runs).
EXPORT_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class MemoryExportBytes:
    """An export's plaintext, cut into parts of at most about MAX_PART_BYTES (each
    sealed as one memories chunk, in order), and what it holds."""

    parts: tuple[tuple[bytes, int], ...]  # (plaintext, memories and tombstones in it)
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

    def __init__(
        self,
        shards: ShardedMemoryClient,
        *,
        part_bytes: int = MAX_PART_BYTES,
        export_batch: int = EXPORT_BATCH,
    ) -> None:
        self._client = shards
        self._part_bytes = part_bytes
        self._batch = export_batch

    async def snapshot(self, agent_id: str) -> MemoryExportBytes:
        export = self._client.replica_for(agent_id).export(agent_id, self._batch)
        return await collect_export(export, self._part_bytes)

    async def changes(self, agent_id: str, since: int) -> MemoryExportBytes:
        replica = self._client.replica_for(agent_id)
        changes = replica.export_changes(agent_id, since, self._batch)
        return await collect_export(changes, self._part_bytes)

    async def close(self) -> None:
        await self._client.close()


async def collect_export(
    chunks: AsyncIterator[pb.ExportChunk], part_bytes: int = MAX_PART_BYTES
) -> MemoryExportBytes:
    """An export stream as sealable parts (cut between export chunks) and its counts."""
    parts = _Parts(part_bytes)
    header = trailer = None
    async for chunk in chunks:
        parts.add(chunk)
        if chunk.HasField("header"):
            header = chunk.header
        elif chunk.HasField("trailer"):
            trailer = chunk.trailer
    if header is None or trailer is None:
        raise CorruptExport("the memory service's export stream ended early")
    return MemoryExportBytes(
        parts=parts.done(),
        since=header.since,
        sequence=trailer.sequence,
        written=trailer.count,
        deleted=trailer.deleted,
    )


class _Parts:
    """Export chunks grouped into parts of at most about `limit` bytes (whole export
    chunks only: a part holds at least one, however large)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._done: list[tuple[bytes, int]] = []
        self._group: list[bytes] = []
        self._size = self._items = 0

    def add(self, chunk: pb.ExportChunk) -> None:
        raw = chunk.SerializeToString()
        framed = len(raw) + 4  # pack_export's length prefix
        if self._group and self._size + framed > self._limit:
            self._flush()
        self._group.append(raw)
        self._size += framed
        self._items += len(chunk.batch.memories) + len(chunk.batch.deleted_ids)

    def done(self) -> tuple[tuple[bytes, int], ...]:
        if self._group:
            self._flush()
        return tuple(self._done)

    def _flush(self) -> None:
        self._done.append((pack_export(self._group), self._items))
        self._group, self._size, self._items = [], 0, 0
