"""A restore's memories: a snapshot then its deltas, merged in order into one whole
export, and every way a host could hand over a broken history refused before anything
is imported (a delta missing, repeated or reordered, a tombstone for a memory never
held, a memory written twice, a cut or altered chunk, another agent's chunk)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import (
    DuplicateMemory,
    MalformedMemoryChunk,
    MemoryDeltaMissing,
    MemoryDeltaOutOfOrder,
    UnknownTombstone,
    merge_memory_exports,
    pack_export,
    parse_memory_export,
)
from anima_memory_api.export_digest import ExportDigest
from anima_verify.errors import ErrorKind
from anima_verify.lifedata import LifeDataError

AGENT = "alice"


def memory(n: int) -> pb.Memory:
    return pb.Memory(id=f"m{n:04d}", agent_id=AGENT, content=pb.Content(text=f"memory {n}"))


def export(
    written: Sequence[int],
    *,
    since: int,
    sequence: int,
    deleted: Sequence[int] = (),
    agent_id: str = AGENT,
) -> bytes:
    digest = ExportDigest()
    memories = [memory(n) for n in written]
    ids = [f"m{n:04d}" for n in deleted]
    for m in memories:
        digest.add(m)
    for i in ids:
        digest.add_tombstone(i)
    header = pb.ExportHeader(
        format="anima.memory.export",
        version=1,
        agent_id=agent_id,
        dimension=384,
        embedding_model="minilm",
        since=since,
    )
    chunks = [pb.ExportChunk(header=header)]
    if memories:
        chunks.append(pb.ExportChunk(batch=pb.MemoryBatch(memories=memories)))
    if ids:
        chunks.append(pb.ExportChunk(batch=pb.MemoryBatch(deleted_ids=ids)))
    trailer = pb.ExportTrailer(
        count=len(memories), sha256=digest.digest(), sequence=sequence, deleted=len(ids)
    )
    chunks.append(pb.ExportChunk(trailer=trailer))
    return pack_export(c.SerializeToString() for c in chunks)


SNAPSHOT = export(range(5), since=0, sequence=3)
DELTA_1 = export([5, 6], since=3, sequence=5, deleted=[0])
DELTA_2 = export([7], since=5, sequence=6, deleted=[5, 1])


def ids(chunks: list[pb.ExportChunk]) -> list[str]:
    return [m.id for c in chunks if c.HasField("batch") for m in c.batch.memories]


def test_snapshot_then_deltas_in_order() -> None:
    merged = merge_memory_exports([SNAPSHOT, DELTA_1, DELTA_2], agent_id=AGENT)
    assert ids(merged) == ["m0002", "m0003", "m0004", "m0006", "m0007"]
    assert merged[0].header.since == 0 and merged[-1].trailer.sequence == 6
    # The result is itself a whole export whose trailer matches it (ImportMemories checks).
    again = parse_memory_export(pack_export(c.SerializeToString() for c in merged))
    assert again.sequence == 6 and len(again.memories) == 5 and again.deleted == ()


def test_a_later_snapshot_compacts_what_came_before() -> None:
    compacted = export([2, 3, 4, 6, 7], since=0, sequence=6)
    after = export([8], since=6, sequence=7, deleted=[2])
    merged = merge_memory_exports([SNAPSHOT, DELTA_1, DELTA_2, compacted, after], agent_id=AGENT)
    assert ids(merged) == ["m0003", "m0004", "m0006", "m0007", "m0008"]
    assert merged[-1].trailer.sequence == 7


@pytest.mark.parametrize(
    ("chunks", "error", "says"),
    [
        ([SNAPSHOT, DELTA_2], MemoryDeltaMissing, "a delta is missing"),
        ([SNAPSHOT, DELTA_2, DELTA_1], MemoryDeltaMissing, "a delta is missing"),
        ([SNAPSHOT, DELTA_1, DELTA_1], MemoryDeltaOutOfOrder, "repeated or out of order"),
        ([DELTA_1, SNAPSHOT], MemoryDeltaOutOfOrder, "before any snapshot"),
        ([SNAPSHOT, DELTA_1, export([], since=0, sequence=4)], MemoryDeltaOutOfOrder, "snapshot"),
        ([], MemoryDeltaOutOfOrder, "no memories snapshot"),
        ([SNAPSHOT, export([], since=3, sequence=4, deleted=[9])], UnknownTombstone, "m0009"),
        ([SNAPSHOT, export([4], since=3, sequence=4)], DuplicateMemory, "m0004"),
        ([SNAPSHOT, export([], since=3, sequence=4, agent_id="bob")], MalformedMemoryChunk, "bob"),
    ],
)
def test_a_broken_history_is_refused_whole(
    chunks: list[bytes], error: type[LifeDataError], says: str
) -> None:
    with pytest.raises(error, match=says) as caught:
        merge_memory_exports(chunks, agent_id=AGENT)
    assert caught.value.kind in (ErrorKind.FAILED_PRECONDITION, ErrorKind.INVALID_ARGUMENT)


def test_a_tombstone_for_a_memory_deleted_before_is_refused() -> None:
    again = export([], since=5, sequence=6, deleted=[0])  # m0000 already gone in DELTA_1
    with pytest.raises(UnknownTombstone):
        merge_memory_exports([SNAPSHOT, DELTA_1, again], agent_id=AGENT)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # cut
        lambda b: b[: len(b) // 2],
        lambda b: b.replace(b"memory 6", b"memory 9"),  # altered: the digest fails
        lambda b: b"",
    ],
)
def test_a_cut_or_altered_chunk_is_malformed(damage: object) -> None:
    assert callable(damage)
    with pytest.raises(MalformedMemoryChunk):
        merge_memory_exports([SNAPSHOT, damage(DELTA_1)], agent_id=AGENT)


def test_a_snapshot_with_tombstones_or_a_delta_ending_before_it_starts_is_malformed() -> None:
    with pytest.raises(MalformedMemoryChunk, match="no tombstones"):
        parse_memory_export(export([1], since=0, sequence=1, deleted=[0]))
    with pytest.raises(MalformedMemoryChunk, match="ends at"):
        parse_memory_export(export([1], since=5, sequence=4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=600))
def test_fuzz_any_bytes_raise_only_life_data_errors(noise: bytes, at: int) -> None:
    """Random bytes, or a valid delta with bytes spliced in, never escape the family."""
    for data in (noise, DELTA_1[:at] + noise + DELTA_1[at:]):
        with contextlib.suppress(LifeDataError):
            merge_memory_exports([SNAPSHOT, data], agent_id=AGENT)


def _cut_between_batches(plaintext: bytes) -> list[bytes]:
    """One export as parts that concatenate back into it, cut after each serialized
    chunk (how a large export travels in several memories chunks)."""
    from anima_dasync.memories import unpack_export

    return [pack_export([raw]) for raw in unpack_export(plaintext)]


def test_an_export_cut_into_parts_merges_like_the_whole_one() -> None:
    whole = merge_memory_exports([SNAPSHOT, DELTA_1, DELTA_2], agent_id=AGENT)
    parts = [*_cut_between_batches(SNAPSHOT), *_cut_between_batches(DELTA_1), DELTA_2]
    assert ids(merge_memory_exports(parts, agent_id=AGENT)) == ids(whole)
    assert whole[-1].trailer.sequence == 6


def test_a_cut_export_whose_last_part_is_missing_is_refused() -> None:
    parts = _cut_between_batches(SNAPSHOT)
    with pytest.raises(MalformedMemoryChunk, match="no trailer"):
        merge_memory_exports(parts[:-1], agent_id=AGENT)
    with pytest.raises(MalformedMemoryChunk):  # the parts out of order
        merge_memory_exports([parts[1], parts[0], *parts[2:]], agent_id=AGENT)
