"""The memory change feed (ExportMemoryChanges): a per-agent change sequence, deltas with
tombstones that chain onto a snapshot, and a restore (snapshot + deltas merged) that lands
exactly the source's memories and continues its sequence. Real service, real gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import merge_memory_exports, pack_export
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.errors import ChangeCursorAhead, CorruptExport, MemoryRpcError
from anima_memory_api.types import MemoryFilter
from anima_verify.errors import ErrorKind
from tests.memory.conftest import AGENT, OTHER_AGENT, Served, draft, memory_config, serve
from tests.memory.test_export_import import unit

EVERYTHING = MemoryFilter(agent_id=AGENT)


@pytest.fixture
async def second(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[Served]:
    s = await serve(memory_config(tmp_path / "second"), minilm)
    yield s
    await s.running.stop(grace=0.2)


async def write(c: MemoryClient, ids: Iterable[int], room: str = "room-1") -> list[str]:
    results = await c.create(
        [draft(f"memory {i}", vector=unit(i), room_id=room, fields={"i": i}) for i in ids]
    )
    return [r.id for r in results]


async def snapshot(served: Served) -> list[pb.ExportChunk]:
    async with served.client("dasync") as c:
        return [chunk async for chunk in c.export(AGENT)]


async def changes(served: Served, since: int) -> list[pb.ExportChunk]:
    async with served.client("dasync") as c:
        return [chunk async for chunk in c.export_changes(AGENT, since)]


def written(chunks: list[pb.ExportChunk]) -> set[str]:
    return {m.id for c in chunks if c.HasField("batch") for m in c.batch.memories}


def tombstones(chunks: list[pb.ExportChunk]) -> set[str]:
    return {i for c in chunks if c.HasField("batch") for i in c.batch.deleted_ids}


def packed(chunks: list[pb.ExportChunk]) -> bytes:
    return pack_export(c.SerializeToString() for c in chunks)


async def stream(chunks: Iterable[pb.ExportChunk]) -> AsyncIterator[pb.ExportChunk]:
    for chunk in chunks:
        yield chunk


async def test_a_delta_holds_only_what_changed_and_tombstones(served: Served) -> None:
    async with served.client() as c:
        old = await write(c, range(10))
        base = await snapshot(served)
        assert base[-1].trailer.sequence == 1  # one create call, one change
        new = await write(c, range(10, 13))
        born_and_gone = (await write(c, [13]))[0]
        assert await c.delete(AGENT, old[0])
        assert await c.delete(AGENT, born_and_gone)
        await c.create([draft("other agent's", agent_id=OTHER_AGENT, vector=unit(99))])
    delta = await changes(served, base[-1].trailer.sequence)
    assert delta[0].header.since == 1
    assert written(delta) == set(new)  # neither the old ten nor the created-then-deleted one
    assert tombstones(delta) == {old[0]}  # existed at the cursor, deleted since
    assert (delta[-1].trailer.count, delta[-1].trailer.deleted) == (3, 1)
    assert delta[-1].trailer.sequence == 5
    # Nothing changed since the end of that delta: an empty delta at the same sequence.
    empty = await changes(served, 5)
    assert [c.WhichOneof("part") for c in empty] == ["header", "trailer"]
    assert empty[-1].trailer.sequence == 5


async def test_snapshot_plus_deltas_restore_the_source_and_continue_its_sequence(
    served: Served, second: Served
) -> None:
    async with served.client() as c:
        first = await write(c, range(20))
        base = await snapshot(served)
        await write(c, range(20, 25))
        assert await c.delete_room(AGENT, "room-1") == 25
        d1 = await changes(served, base[-1].trailer.sequence)
        later = await write(c, range(25, 30), room="room-2")
        d2 = await changes(served, d1[-1].trailer.sequence)
    # Tombstones only for what existed at the cursor (the 20 of the snapshot).
    assert tombstones(d1) == set(first) and written(d1) == set()
    assert written(d2) == set(later) and tombstones(d2) == set()
    merged = merge_memory_exports([packed(base), packed(d1), packed(d2)], agent_id=AGENT)
    async with second.client("dasync") as c:
        assert await c.import_(stream(merged)) == 5
    async with second.client() as after:
        assert await after.count(EVERYTHING) == 5
        got, missing = await after.get(AGENT, [*later, first[0]])
        assert sorted(m.id for m in got) == sorted(later) and missing == [first[0]]
    # The restored node continues the agent's sequence: the next delta chains on.
    restored = await snapshot(second)
    assert restored[-1].trailer.sequence == d2[-1].trailer.sequence
    async with second.client() as c:
        newest = await write(c, [30])
    after_restore = await changes(second, d2[-1].trailer.sequence)
    assert written(after_restore) == set(newest)


async def test_a_cursor_from_the_future_is_refused(served: Served) -> None:
    async with served.client() as c:
        await write(c, range(2))
    with pytest.raises(ChangeCursorAhead) as caught:
        await changes(served, 2)
    assert caught.value.kind is ErrorKind.FAILED_PRECONDITION
    assert "past agent eliza's latest change 1" in str(caught.value)


async def test_only_dasync_and_admin_read_the_change_feed(served: Served) -> None:
    async with served.client("runtime") as c:
        with pytest.raises(MemoryRpcError):
            [chunk async for chunk in c.export_changes(AGENT, 0)]


async def test_import_refuses_a_bare_delta(served: Served, second: Served) -> None:
    async with served.client() as c:
        await write(c, range(3))
        await write(c, range(3, 5))
    delta = await changes(served, 1)
    async with second.client("dasync") as c:
        with pytest.raises(CorruptExport, match="change export"):
            await c.import_(stream(delta))
    async with second.client() as c:
        assert await c.count(EVERYTHING) == 0


async def test_the_sequence_survives_a_restart(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> None:
    config = memory_config(tmp_path / "node")
    first = await serve(config, minilm)
    async with first.client() as c:
        await write(c, range(3))
        await write(c, range(3, 6))
    await first.running.stop(grace=0.2)
    again = await serve(config, minilm)
    try:
        delta = await changes(again, 1)
        assert delta[-1].trailer.sequence == 2 and len(written(delta)) == 3
    finally:
        await again.running.stop(grace=0.2)
