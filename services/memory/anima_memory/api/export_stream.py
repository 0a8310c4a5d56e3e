"""The export stream format, "anima.memory.export" version 1 (see memory.proto).

Writing: a header, batches of memories with their vectors, a trailer holding
the count, a SHA-256 over every memory (length-prefixed deterministic
protobuf) and the change sequence the stream reflects. A change export
(ExportMemoryChanges) names its cursor in the header (`since`) and carries
tombstones (`deleted_ids`), hashed after the memories. Reading checks the
framing as chunks arrive and the digest at the end; a truncated, reordered or
altered stream raises CorruptExport, which the importer turns into "nothing
imported".
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final

from anima.memory.v1 import memory_pb2 as pb
from anima_memory_api.convert import memory_from_pb, memory_to_pb
from anima_memory_api.errors import CorruptExport
from anima_memory_api.export_digest import ExportDigest
from anima_memory_api.types import Memory, shown

FORMAT: Final = "anima.memory.export"
VERSION: Final = 1


async def write_export(
    agent_id: str,
    *,
    dimension: int,
    model: str,
    pages: AsyncIterator[list[Memory]],
    max_chunk_bytes: int,
    sequence: Callable[[], int] = lambda: 0,
    since: int = 0,
    deleted: Sequence[str] = (),
) -> AsyncIterator[pb.ExportChunk]:
    """The stream for `pages` (then the tombstones `deleted`, for a change export after
    `since`); a batch is cut early to stay under `max_chunk_bytes` (memories with large
    structured fields), so any export fits the channel. `sequence()` is asked once the
    pages are exhausted (the snapshot's change number)."""
    yield pb.ExportChunk(
        header=pb.ExportHeader(
            format=FORMAT,
            version=VERSION,
            agent_id=agent_id,
            dimension=dimension,
            embedding_model=model,
            exported_at_ms=time.time_ns() // 1_000_000,
            since=since,
        )
    )
    digest = ExportDigest()
    async for page in pages:
        batch = pb.MemoryBatch()
        size = 0
        for memory in page:
            encoded = memory_to_pb(memory, with_vector=True)
            digest.add(encoded)
            if batch.memories and size + encoded.ByteSize() > max_chunk_bytes:
                yield pb.ExportChunk(batch=batch)
                batch, size = pb.MemoryBatch(), 0
            batch.memories.append(encoded)
            size += encoded.ByteSize()
        if batch.memories:
            yield pb.ExportChunk(batch=batch)
    # Ids are at most a few hundred bytes: a batch of 1024 stays far under any channel.
    for at in range(0, len(deleted), 1024):
        ids = deleted[at : at + 1024]
        for memory_id in ids:
            digest.add_tombstone(memory_id)
        yield pb.ExportChunk(batch=pb.MemoryBatch(deleted_ids=ids))
    yield pb.ExportChunk(
        trailer=pb.ExportTrailer(
            count=digest.count,
            sha256=digest.digest(),
            sequence=sequence(),
            deleted=digest.deleted,
        )
    )


class ExportReader:
    """Reads one export stream: `await header()`, then iterate `pages()`."""

    def __init__(self, chunks: AsyncIterator[pb.ExportChunk], *, dimension: int, model: str):
        self._chunks = chunks
        self._dimension = dimension
        self._model = model
        self.sequence = 0  # the trailer's, once pages() finished

    async def header(self) -> pb.ExportHeader:
        first = await anext(self._chunks, None)
        if first is None or first.WhichOneof("part") != "header":
            raise CorruptExport("an export stream starts with its header")
        header = first.header
        if header.format != FORMAT or header.version != VERSION:
            raise CorruptExport(
                f"unsupported export format {shown(header.format)} version {header.version}; "
                f"this service reads {FORMAT!r} version {VERSION}"
            )
        if header.dimension != self._dimension or header.embedding_model != self._model:
            raise CorruptExport(
                f"export holds {header.dimension}-d vectors of {shown(header.embedding_model)}; "
                f"this store holds {self._dimension}-d vectors of {self._model!r}"
            )
        if header.since:
            raise CorruptExport(
                f"a change export (after change {header.since}) is not a whole export: merge "
                "it onto its snapshot first (anima_dasync.memories.merge_memory_exports)"
            )
        return header

    async def pages(self) -> AsyncIterator[list[Memory]]:
        digest = ExportDigest()
        async for chunk in self._chunks:
            part = chunk.WhichOneof("part")
            if part == "batch":
                if chunk.batch.deleted_ids:
                    raise CorruptExport("tombstones inside a whole export")
                for memory in chunk.batch.memories:
                    digest.add(memory)
                yield [memory_from_pb(m) for m in chunk.batch.memories]
            elif part == "trailer":
                self._check_trailer(chunk.trailer, digest)
                if await anext(self._chunks, None) is not None:
                    raise CorruptExport("data after the export trailer")
                self.sequence = chunk.trailer.sequence
                return
            else:
                raise CorruptExport(f"unexpected {part or 'empty'} chunk inside an export")
        raise CorruptExport("export stream ended before its trailer (truncated)")

    @staticmethod
    def _check_trailer(trailer: pb.ExportTrailer, digest: ExportDigest) -> None:
        if trailer.count != digest.count or trailer.deleted != digest.deleted:
            raise CorruptExport(
                f"export trailer counts {trailer.count} memories and {trailer.deleted} "
                f"tombstones; the stream held {digest.count} and {digest.deleted}"
            )
        if trailer.sha256 != digest.digest():
            raise CorruptExport("export digest mismatch: the stream was altered")
