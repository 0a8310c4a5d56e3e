"""Export and import: the versioned stream, its checks, and that a failed import leaves nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import numpy as np
import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima_memory.api.export_stream import FORMAT, VERSION
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.errors import CorruptExport, ImportRefused, InvalidMemoryRequest
from anima_memory_api.types import DIMENSION, MemoryFilter, check_vector
from anima_verify.errors import ErrorKind
from tests.memory.conftest import AGENT, OTHER_AGENT, Served, draft, memory_config, serve

EVERYTHING = MemoryFilter(agent_id=AGENT)


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


@pytest.fixture
async def second(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[Served]:
    s = await serve(memory_config(tmp_path / "second"), minilm)
    yield s
    await s.running.stop(grace=0.2)


async def fill(served: Served, n: int) -> None:
    async with served.client() as c:
        await c.create(
            [
                draft(
                    f"memory {i}",
                    vector=unit(i),
                    room_id=f"room-{i % 3}",
                    table=("messages", "facts")[i % 2],
                    fields={"i": i},
                    created_at_ms=1_000 + i,
                    unique=i % 5 == 0,
                )
                for i in range(n)
            ]
        )
        await c.create([draft("not exported", agent_id=OTHER_AGENT, vector=unit(999))])


async def export(served: Served, batch_size: int = 0) -> list[pb.ExportChunk]:
    async with served.client("dasync") as c:
        return [chunk async for chunk in c.export(AGENT, batch_size)]


async def stream(chunks: Iterable[pb.ExportChunk]) -> AsyncIterator[pb.ExportChunk]:
    for chunk in chunks:
        yield chunk


async def test_export_then_import_restores_ids_payloads_and_vectors(
    served: Served, second: Served
) -> None:
    await fill(served, 25)
    chunks = await export(served, batch_size=10)
    header = chunks[0].header
    assert (header.format, header.version, header.agent_id, header.dimension) == (
        FORMAT,
        VERSION,
        AGENT,
        DIMENSION,
    )
    assert [c.WhichOneof("part") for c in chunks] == ["header"] + ["batch"] * 3 + ["trailer"]
    assert chunks[-1].trailer.count == 25

    async with second.client("dasync") as c:
        assert await c.import_(stream(chunks)) == 25
    async with served.client() as before, second.client() as after:
        assert await after.count(EVERYTHING) == 25
        assert await after.count(MemoryFilter(agent_id=OTHER_AGENT)) == 0
        for probe in (unit(3), unit(17)):
            want = await before.search(EVERYTHING, probe, limit=5, with_vectors=True)
            got = await after.search(EVERYTHING, probe, limit=5, with_vectors=True)
            assert [h.memory.id for h in got] == [h.memory.id for h in want]
            for w, g in zip(want, got, strict=True):
                assert (g.memory.text, g.memory.fields, g.memory.unique) == (
                    w.memory.text,
                    w.memory.fields,
                    w.memory.unique,
                )
                assert g.memory.created_at_ms == w.memory.created_at_ms
                np.testing.assert_array_equal(g.memory.vector, w.memory.vector)
    # An export of the import is the same stream (the format is stable).
    again = await export(second, batch_size=10)
    assert again[-1].trailer.sha256 == chunks[-1].trailer.sha256


def test_check_vector_leaves_a_unit_vector_bit_for_bit() -> None:
    """Regression: every import divided each vector by its float32 norm again, which moves
    about a third of unit vectors by an ulp (unit(6) here), so an export of the import
    was another stream. A normalized vector must come back from check_vector unchanged."""
    moved = 0
    for seed in range(200):
        once = check_vector(unit(seed), DIMENSION, "vector")
        twice = check_vector(once, DIMENSION, "vector")
        assert twice.tobytes() == once.tobytes()
        moved += once.tobytes() != (once / np.float32(np.linalg.norm(once))).tobytes()
    assert moved > 0  # renormalizing would have moved some: the test can see the bug
    long = check_vector([3.0, 4.0] + [0.0] * (DIMENSION - 2), DIMENSION, "vector")
    assert long[:2].tolist() == pytest.approx([0.6, 0.8])


async def test_empty_agent_exports_header_and_trailer(served: Served) -> None:
    chunks = await export(served)
    assert [c.WhichOneof("part") for c in chunks] == ["header", "trailer"]
    assert chunks[-1].trailer.count == 0


def _altered(chunks: list[pb.ExportChunk]) -> list[pb.ExportChunk]:
    copy = [pb.ExportChunk.FromString(c.SerializeToString()) for c in chunks]
    copy[1].batch.memories[0].content.text = "rewritten history"
    return copy


def _other_version(chunks: list[pb.ExportChunk]) -> list[pb.ExportChunk]:
    copy = [pb.ExportChunk.FromString(c.SerializeToString()) for c in chunks]
    copy[0].header.version = 2
    return copy


def _other_model(chunks: list[pb.ExportChunk]) -> list[pb.ExportChunk]:
    copy = [pb.ExportChunk.FromString(c.SerializeToString()) for c in chunks]
    copy[0].header.embedding_model = "some-other-model"
    return copy


def _bad_memory(chunks: list[pb.ExportChunk]) -> list[pb.ExportChunk]:
    copy = [pb.ExportChunk.FromString(c.SerializeToString()) for c in chunks]
    copy[-2].batch.memories[-1].table = "diary"
    return copy


@pytest.mark.parametrize(
    ("corrupt", "needle"),
    [
        (lambda c: c[:-1], "truncated"),
        (lambda c: c[1:], "starts with its header"),
        (lambda c: [c[0], *c[2:]], "counts"),
        (lambda c: [*c[:-1], c[1], c[-1]], "appears twice"),
        (lambda c: [*c, c[1]], "after the export trailer"),
        (_altered, "digest mismatch"),
        (_other_version, "version 2"),
        (_other_model, "some-other-model"),
        (_bad_memory, "unknown table"),
    ],
)
async def test_a_corrupt_stream_imports_nothing(
    served: Served, second: Served, corrupt: object, needle: str
) -> None:
    await fill(served, 12)
    chunks = await export(served, batch_size=5)
    async with second.client("dasync") as c:
        with pytest.raises((CorruptExport, InvalidMemoryRequest)) as caught:
            await c.import_(stream(corrupt(chunks)))  # type: ignore[operator]
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    assert needle in caught.value.message
    async with second.client() as c:
        assert await c.count(EVERYTHING) == 0


async def test_import_into_an_agent_with_memories_is_refused(
    served: Served, second: Served
) -> None:
    await fill(served, 4)
    chunks = await export(served)
    async with second.client() as c:
        (kept,) = await c.create([draft("already here", vector=unit(5))])
    async with second.client("dasync") as c:
        with pytest.raises(ImportRefused) as caught:
            await c.import_(stream(chunks))
    assert caught.value.reason == "IMPORT_REFUSED"
    async with second.client() as c:
        assert await c.count(EVERYTHING) == 1
        (still,), _ = await c.get(AGENT, [kept.id])
        assert still.text == "already here"


async def test_import_whose_ids_are_taken_rolls_back(served: Served, second: Served) -> None:
    await fill(served, 12)
    chunks = await export(served, batch_size=5)
    taken = chunks[-2].batch.memories[0].id  # in the last batch: earlier ones land first
    async with second.client() as c:
        await c.create([draft("squatter", agent_id=OTHER_AGENT, id=taken, vector=unit(1))])
    async with second.client("dasync") as c:
        with pytest.raises(ImportRefused, match="already exists"):
            await c.import_(stream(chunks))
    async with second.client() as c:
        assert await c.count(EVERYTHING) == 0
        assert await c.count(MemoryFilter(agent_id=OTHER_AGENT)) == 1


async def test_export_is_a_snapshot_writes_wait(served: Served) -> None:
    await fill(served, 30)
    service = served.running.service
    pages = service.export(AGENT, 5)
    seen = len(await anext(pages))  # the agent's write lock is now held
    write = asyncio.ensure_future(service.create([draft("late", vector=unit(77))]))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not write.done()
    async for page in pages:
        seen += len(page)
    await write
    assert seen == 30
    assert await service.count(EVERYTHING) == 31


async def test_cli_export_file_round_trip(served: Served, second: Served, tmp_path: Path) -> None:
    from anima_memory.cli import read_chunks, write_chunk

    await fill(served, 7)
    path = tmp_path / "eliza.export"
    with path.open("wb") as out:
        for chunk in await export(served):
            write_chunk(out, chunk)
    async with second.client("dasync") as c:
        with path.open("rb") as source:
            assert await c.import_(read_chunks(source)) == 7
    torn = tmp_path / "torn.export"
    torn.write_bytes(path.read_bytes()[:-10])
    async with second.client("admin") as c:
        await c.delete_agent(AGENT)
        with torn.open("rb") as source, pytest.raises(CorruptExport, match="truncated"):
            await c.import_(read_chunks(source))
        assert await c.count(EVERYTHING) == 0


def test_client_requires_a_certificate_or_explicit_plaintext() -> None:
    with pytest.raises(ValueError, match="insecure_plaintext"):
        MemoryClient.connect("127.0.0.1:1", "t")
