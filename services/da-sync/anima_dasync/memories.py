"""The memories chunk's plaintext: the memory service's export stream (ExportMemories,
vectors included, so a restore imports without re-embedding), each serialized export
chunk length-prefixed.

A chunk is a snapshot (a whole export, `since` 0) or a delta (ExportMemoryChanges
after the previous chunk's sequence: memories written since and tombstones). The
manifest lists them in order and never drops one; a restore merges them with
merge_memory_exports into one whole export that ImportMemories lands all at once.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError

from anima.memory.v1 import memory_pb2 as pb
from anima_memory_api.client import MemoryClient
from anima_memory_api.export_digest import ExportDigest
from anima_verify.errors import ErrorKind
from anima_verify.lifedata import LifeDataError

_LENGTH = struct.Struct(">I")
# Memories per batch of a merged export: ~256 x (384 floats + text) stays far under
# the memory service's message limit, like its own exports.
IMPORT_BATCH: Final = 256


def pack_export(chunks: Iterable[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(c)) + c for c in chunks)


def unpack_export(data: bytes) -> list[bytes]:
    """The serialized export chunks; ValueError if the framing is cut or overruns."""
    out, at = [], 0
    while at < len(data):
        if at + _LENGTH.size > len(data):
            raise ValueError("memories chunk: a length prefix is cut")
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + size > len(data):
            raise ValueError("memories chunk: an export chunk is cut")
        out.append(data[at : at + size])
        at += size
    return out


# ---------------------------------------------------------------- snapshot + deltas


class MalformedMemoryChunk(LifeDataError):
    """A memories chunk's plaintext is not one export stream (cut, reordered, altered)."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MALFORMED_MEMORY_CHUNK"


class MemoryDeltaMissing(LifeDataError):
    """A delta does not start where the one before ended: changes in between are missing."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MEMORY_DELTA_MISSING"


class MemoryDeltaOutOfOrder(LifeDataError):
    """A delta (or snapshot) older than what was already applied, or deltas without a
    snapshot before them."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MEMORY_DELTA_OUT_OF_ORDER"


class UnknownTombstone(LifeDataError):
    """A delta deletes a memory that the snapshot and the deltas before it never held."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MEMORY_TOMBSTONE_UNKNOWN"


class DuplicateMemory(LifeDataError):
    """A delta writes a memory id that is already held (memories are never rewritten)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "MEMORY_WRITTEN_TWICE"


@dataclass(frozen=True, slots=True)
class MemoryExport:
    """One parsed, digest-checked export stream: a snapshot (since 0) or a delta."""

    header: pb.ExportHeader
    memories: tuple[pb.Memory, ...]
    deleted: tuple[str, ...]
    sequence: int

    @property
    def since(self) -> int:
        return self.header.since


def parse_memory_export(plaintext: bytes) -> MemoryExport:
    """A memories chunk's plaintext, checked: header first, batches, the trailer last,
    its counts and digest matching. MalformedMemoryChunk names what is wrong."""
    return _checked_export(_export_chunks(plaintext))


def _export_chunks(plaintext: bytes) -> list[pb.ExportChunk]:
    try:
        return [pb.ExportChunk.FromString(raw) for raw in unpack_export(plaintext)]
    except (ValueError, DecodeError) as exc:
        raise MalformedMemoryChunk(f"memories chunk: {exc}") from None


def _export_streams(plaintexts: Sequence[bytes]) -> list[list[pb.ExportChunk]]:
    """The export streams the memories chunks hold, in order. A chunk holds one whole
    export (da-sync's snapshots and deltas), or a large export is cut into chunks at
    batch boundaries that concatenate back into it (so no chunk outgrows a message):
    a stream ends at its trailer, and one left without a trailer is cut."""
    streams: list[list[pb.ExportChunk]] = []
    current: list[pb.ExportChunk] = []
    for plaintext in plaintexts:
        chunks = _export_chunks(plaintext)
        if not chunks:
            raise MalformedMemoryChunk("memories chunk: empty (no part of an export)")
        for chunk in chunks:
            current.append(chunk)
            if chunk.WhichOneof("part") == "trailer":
                streams.append(current)
                current = []
    if current:
        raise MalformedMemoryChunk("memories chunks: the last export has no trailer (cut?)")
    return streams


def _checked_export(chunks: list[pb.ExportChunk]) -> MemoryExport:
    if len(chunks) < 2 or chunks[0].WhichOneof("part") != "header":
        raise MalformedMemoryChunk("memories chunk: an export starts with its header")
    if chunks[-1].WhichOneof("part") != "trailer":
        raise MalformedMemoryChunk("memories chunk: an export ends with its trailer (cut?)")
    digest = ExportDigest()
    memories: list[pb.Memory] = []
    deleted: list[str] = []
    for chunk in chunks[1:-1]:
        if chunk.WhichOneof("part") != "batch":
            raise MalformedMemoryChunk("memories chunk: a header or trailer inside the export")
        if chunk.batch.memories and deleted:
            raise MalformedMemoryChunk("memories chunk: a memory after the tombstones")
        for memory in chunk.batch.memories:
            digest.add(memory)
            memories.append(memory)
        for memory_id in chunk.batch.deleted_ids:
            digest.add_tombstone(memory_id)
            deleted.append(memory_id)
    header, trailer = chunks[0].header, chunks[-1].trailer
    counted = (trailer.count, trailer.deleted) == (digest.count, digest.deleted)
    if not counted or not hmac.compare_digest(trailer.sha256, digest.digest()):
        raise MalformedMemoryChunk("memories chunk: the export's trailer does not match it")
    if header.since == 0 and deleted:
        raise MalformedMemoryChunk("memories chunk: a snapshot holds no tombstones")
    if header.since > trailer.sequence:
        raise MalformedMemoryChunk(
            f"memories chunk: a delta after change {header.since} ends at {trailer.sequence}"
        )
    return MemoryExport(
        header=header, memories=tuple(memories), deleted=tuple(deleted), sequence=trailer.sequence
    )


def merge_memory_exports(plaintexts: Sequence[bytes], *, agent_id: str) -> list[pb.ExportChunk]:
    """The restore's one step for memories: the memories chunks' plaintexts in manifest
    order (a snapshot, its deltas, perhaps a later snapshot and its deltas; an export
    may span chunks, _export_streams) applied in order and checked whole, as ONE whole
    export stream for ImportMemories (which lands all of it or nothing). Its trailer's
    sequence is the last delta's, so the restored node's change feed continues where
    the agent's DA history ends.

    Raises before anything is imported: MalformedMemoryChunk, MemoryDeltaMissing and
    MemoryDeltaOutOfOrder (a delta absent, repeated or reordered), UnknownTombstone,
    DuplicateMemory, or MalformedMemoryChunk for another agent's or model's export."""
    held: dict[str, pb.Memory] = {}
    sequence: int | None = None  # None: no snapshot applied yet
    first: pb.ExportHeader | None = None
    for n, stream in enumerate(_export_streams(plaintexts)):
        export = _checked_export(stream)
        header = export.header
        first = first or header
        if header.agent_id != agent_id:
            raise MalformedMemoryChunk(f"memories chunk {n} is agent {header.agent_id!r}'s")
        if (header.dimension, header.embedding_model) != (first.dimension, first.embedding_model):
            raise MalformedMemoryChunk(f"memories chunk {n} holds another model's vectors")
        if export.since == 0:  # a snapshot (the first, or a compaction) replaces the state
            if sequence is not None and export.sequence < sequence:
                raise MemoryDeltaOutOfOrder(
                    f"memories chunk {n}: a snapshot at change {export.sequence} after "
                    f"changes up to {sequence} were applied"
                )
            held = {}
        elif sequence is None:
            raise MemoryDeltaOutOfOrder(f"memories chunk {n}: a delta before any snapshot")
        elif export.since > sequence:
            raise MemoryDeltaMissing(
                f"memories chunk {n} starts after change {export.since}, but the chunks "
                f"before end at change {sequence}: a delta is missing"
            )
        elif export.since < sequence:
            raise MemoryDeltaOutOfOrder(
                f"memories chunk {n} starts after change {export.since}, already applied "
                f"up to change {sequence}: repeated or out of order"
            )
        for memory_id in export.deleted:
            if held.pop(memory_id, None) is None:
                raise UnknownTombstone(
                    f"memories chunk {n} deletes memory {memory_id[:40]!r}, never held"
                )
        for memory in export.memories:
            if memory.id in held:
                raise DuplicateMemory(f"memories chunk {n} writes memory {memory.id!r} again")
            held[memory.id] = memory
        sequence = export.sequence
    if first is None or sequence is None:
        raise MemoryDeltaOutOfOrder("no memories snapshot to restore from")
    return _whole_export(first, [held[k] for k in sorted(held)], sequence)


def _whole_export(
    like: pb.ExportHeader, memories: Sequence[pb.Memory], sequence: int
) -> list[pb.ExportChunk]:
    header = pb.ExportHeader()
    header.CopyFrom(like)
    header.since = 0
    digest = ExportDigest()
    out = [pb.ExportChunk(header=header)]
    for at in range(0, len(memories), IMPORT_BATCH):
        batch = memories[at : at + IMPORT_BATCH]
        for memory in batch:
            digest.add(memory)
        out.append(pb.ExportChunk(batch=pb.MemoryBatch(memories=batch)))
    trailer = pb.ExportTrailer(count=digest.count, sha256=digest.digest(), sequence=sequence)
    return [*out, pb.ExportChunk(trailer=trailer)]


async def import_restored_memories(
    memory: MemoryClient, plaintexts: Sequence[bytes], *, agent_id: str
) -> int:
    """Restore an agent's memories into `memory` (its "dasync" or "admin" role) from the
    memories chunks' plaintexts in manifest order (RestoredAgent.parts): checked and
    merged whole first (merge_memory_exports), then one ImportMemories, which lands
    all or nothing. The number of memories imported."""
    merged = merge_memory_exports(plaintexts, agent_id=agent_id)

    async def chunks() -> AsyncIterator[pb.ExportChunk]:
        for chunk in merged:
            yield chunk

    return await memory.import_(chunks())
