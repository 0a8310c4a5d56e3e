"""The import's bulk path (issue 15's RTO): no index build while importing, one after it,
searches right meanwhile; vectors checked a page at a time exactly as one by one; and
still all or nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anima.memory.v1 import memory_pb2 as pb
from anima_memory.api.export_stream import write_export
from anima_memory.checks import check_vectors
from anima_memory.embeddings.minilm import MODEL_NAME, MiniLmOnnxEmbedder
from anima_memory_api.errors import InvalidMemoryRequest
from anima_memory_api.types import DIMENSION, Memory, MemoryFilter, check_vector
from tests.memory.conftest import AGENT, Served, draft, memory_config, serve

EVERYTHING = MemoryFilter(agent_id=AGENT)
N = 300


def unit_rows(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIMENSION)).astype(np.float32)
    unit: np.ndarray = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return unit


def memories(vectors: np.ndarray) -> list[Memory]:
    return [
        Memory(
            id=str(uuid.UUID(int=i + 1)),
            agent_id=AGENT,
            entity_id="user-1",
            room_id=f"room-{i % 3}",
            table="facts",
            text=f"fact {i}",
            created_at_ms=1_000 + i,
            vector=v,
            fields={"i": i},
        )
        for i, v in enumerate(vectors)
    ]


async def export_of(items: Sequence[Memory], page: int = 50) -> list[pb.ExportChunk]:
    """A well-formed export stream (digest and all) of `items`, in pages of `page`."""

    async def pages() -> AsyncIterator[list[Memory]]:
        for at in range(0, len(items), page):
            yield list(items[at : at + page])

    return [
        chunk
        async for chunk in write_export(
            AGENT, dimension=DIMENSION, model=MODEL_NAME, pages=pages(), max_chunk_bytes=1 << 24
        )
    ]


async def stream(chunks: Sequence[pb.ExportChunk]) -> AsyncIterator[pb.ExportChunk]:
    for chunk in chunks:
        yield chunk


async def serve_importer(tmp_path: Path, minilm: MiniLmOnnxEmbedder, delay: float) -> Served:
    embedded = {"index_after_points": 100, "build_after_import_s": delay}
    return await serve(memory_config(tmp_path / f"b{delay}", embedded=embedded), minilm)


async def test_no_index_build_during_an_import_and_searches_are_exact_after_it(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder
) -> None:
    # index_after 100 and pages of 50: before, builds started during the import.
    served = await serve_importer(tmp_path, minilm, delay=3600)
    vectors = unit_rows(N, 1)
    store, maintainer = served.running.service.store, served.running.maintainer
    assert maintainer is not None
    try:
        async with served.client("dasync") as c:
            assert await c.import_(stream(await export_of(memories(vectors)))) == N
        await maintainer.wait()  # a build the import started would finish here and count
        assert (maintainer.builds, store.stats().indexed_points) == (0, 0)
        async with served.client() as c:
            # A write in the deferral window starts no build either.
            await c.create([draft("after the import", vector=unit_rows(1, 2)[0].tolist())])
            await maintainer.wait()
            assert (maintainer.builds, store.stats().indexed_points) == (0, 0)
            for i in (0, 7, 150, 299):
                hits = await c.search(EVERYTHING, vectors[i].tolist(), limit=5)
                assert hits[0].memory.id == str(uuid.UUID(int=i + 1))
                assert hits[0].score == pytest.approx(1.0, abs=1e-5)  # rescored on float32
                assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    finally:
        await served.running.stop(grace=0.2)


async def test_the_deferred_build_indexes_the_import(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder
) -> None:
    served = await serve_importer(tmp_path, minilm, delay=0.0)
    vectors = unit_rows(N, 3)
    store, maintainer = served.running.service.store, served.running.maintainer
    assert maintainer is not None
    try:
        async with served.client("dasync") as c:
            assert await c.import_(stream(await export_of(memories(vectors)))) == N
        for _ in range(600):  # the build runs in the background; up to a minute
            if maintainer.builds:
                break
            await asyncio.sleep(0.1)
        await maintainer.wait()
        assert maintainer.builds == 1
        assert store.stats().indexed_points == N
        async with served.client() as c:
            for i in (3, 200):
                (top,) = await c.search(EVERYTHING, vectors[i].tolist(), limit=1)
                assert top.memory.id == str(uuid.UUID(int=i + 1))
    finally:
        await served.running.stop(grace=0.2)


async def test_a_bad_vector_in_the_last_page_leaves_nothing_and_a_retry_lands(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder
) -> None:
    served = await serve_importer(tmp_path, minilm, delay=3600)
    vectors = unit_rows(N, 4)
    bad = vectors.copy()
    bad[N - 2, 5] = np.nan  # the stream is well formed: its digest covers the NaN
    try:
        async with served.client("dasync") as c:
            with pytest.raises(InvalidMemoryRequest, match=rf"memories\[{N - 2}\].embedding"):
                await c.import_(stream(await export_of(memories(bad))))
        async with served.client() as c:
            assert await c.count(EVERYTHING) == 0
        async with served.client("dasync") as c:
            assert await c.import_(stream(await export_of(memories(vectors)))) == N
        async with served.client() as c:
            (top,), _ = await c.get(AGENT, [str(uuid.UUID(int=N - 1))], with_vectors=True)
            assert top.vector.tobytes() == vectors[N - 2].tobytes()  # bit for bit
    finally:
        await served.running.stop(grace=0.2)


# ------------------------------------------------------ check_vectors == check_vector


def _each(start: int, rows: list[np.ndarray]) -> list[np.ndarray] | str:
    try:
        return [
            check_vector(r, DIMENSION, f"memories[{start + n}].embedding")
            for n, r in enumerate(rows)
        ]
    except InvalidMemoryRequest as exc:
        return exc.message


def _page(start: int, rows: list[np.ndarray]) -> list[np.ndarray] | str:
    try:
        return check_vectors(start, rows, DIMENSION)
    except InvalidMemoryRequest as exc:
        return exc.message


_ROW = st.tuples(
    st.integers(0, 2**31),
    st.sampled_from(["unit", "scaled", "nan", "inf", "zero", "short", "nearly"]),
)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.lists(_ROW, min_size=1, max_size=12))
def test_check_vectors_agrees_with_check_vector_row_by_row(
    start: int, spec: list[tuple[int, str]]
) -> None:
    rows = []
    for seed, kind in spec:
        v = unit_rows(1, seed)[0]
        if kind == "scaled":
            v = v * np.float32(3.5)
        elif kind == "nearly":  # around the unit-norm tolerance, either side
            v = v * np.float32(1 + (seed % 40 - 20) * 1e-6)
        elif kind == "nan":
            v[seed % DIMENSION] = np.nan
        elif kind == "inf":
            v[seed % DIMENSION] = np.inf
        elif kind == "zero":
            v = np.zeros(DIMENSION, dtype=np.float32)
        elif kind == "short":
            v = v[: DIMENSION - 1]
        rows.append(v)
    want, got = _each(start, rows), _page(start, rows)
    if isinstance(want, str):
        assert got == want
    else:
        assert not isinstance(got, str)
        assert [g.tobytes() for g in got] == [w.tobytes() for w in want]
