"""da-sync cuts a large memories export into chunks of at most ~16 MiB plaintext
(here a few KiB) between export chunks, so a snapshot of 100k memories fits the
signer's message limit; the parts merge back into exactly the whole export."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import (
    MalformedMemoryChunk,
    merge_memory_exports,
    pack_export,
    unpack_export,
)
from anima_dasync.memory_source import MAX_PART_BYTES, collect_export
from tests.dasync.test_memory_deltas import AGENT, export, ids

DELTA = export([600], since=3, sequence=5, deleted=[0])


def _batched(total: int, per_batch: int) -> list[pb.ExportChunk]:
    """The export stream export() builds, its one batch split into many."""
    header, batch, trailer = (
        pb.ExportChunk.FromString(r)
        for r in unpack_export(export(range(total), since=0, sequence=3))
    )
    memories = list(batch.batch.memories)
    batches = [
        pb.ExportChunk(batch=pb.MemoryBatch(memories=memories[at : at + per_batch]))
        for at in range(0, total, per_batch)
    ]
    return [header, *batches, trailer]


async def _stream(chunks: list[pb.ExportChunk]) -> AsyncIterator[pb.ExportChunk]:
    for chunk in chunks:
        yield chunk


async def test_a_large_export_is_cut_between_batches_into_bounded_parts() -> None:
    chunks = _batched(600, 50)
    limit = 4096
    got = await collect_export(_stream(chunks), limit)
    assert len(got.parts) > 3
    assert all(len(plaintext) <= limit for plaintext, _ in got.parts)
    assert sum(items for _, items in got.parts) == got.written == 600
    # The parts concatenate back into the export, byte for byte.
    whole = pack_export(c.SerializeToString() for c in chunks)
    assert b"".join(p for p, _ in got.parts) == whole
    merged = merge_memory_exports([p for p, _ in got.parts], agent_id=AGENT)
    assert ids(merged) == [f"m{n:04d}" for n in range(600)]
    # And a delta after the cut snapshot applies as after the whole one.
    after = merge_memory_exports([*(p for p, _ in got.parts), DELTA], agent_id=AGENT)
    assert ids(after) == ids(merge_memory_exports([whole, DELTA], agent_id=AGENT))
    assert ids(after) == [f"m{n:04d}" for n in range(1, 601)]
    # A part missing is refused whole, never a partial restore.
    with pytest.raises(MalformedMemoryChunk):
        merge_memory_exports([p for p, _ in got.parts][1:], agent_id=AGENT)


async def test_a_small_export_stays_one_part_and_a_batch_over_the_limit_is_its_own() -> None:
    small = await collect_export(_stream(_batched(10, 5)))
    assert len(small.parts) == 1 and MAX_PART_BYTES == 16 << 20
    lone = await collect_export(_stream(_batched(40, 40)), 64)  # every chunk over 64 bytes
    assert len(lone.parts) == 3  # header, the one batch, trailer: whole chunks, never split
    assert merge_memory_exports([p for p, _ in lone.parts], agent_id=AGENT)
