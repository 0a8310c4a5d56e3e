"""Memories through DA with the real memory service (embedded Qdrant Edge, MiniLM): node
A's export is sealed into a memories chunk; node B, holding only the recovered agent
root, opens it and imports it (vectors included, no re-embedding), and "Where do I
live?" finds the fact there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima_dasync.memories import pack_export, unpack_export
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.errors import CorruptExport, ImportRefused
from anima_memory_api.types import MemoryFilter
from anima_signer.keys import KeyRing
from anima_signer.lifedata import LifeDataSealer
from tests.memory.conftest import AGENT, Served, draft, memory_config, serve
from tests.memory.conftest import minilm as minilm  # the session model fixture

FACTS = ["The user's name is Ada", "The user lives in Lisbon", "The user likes green tea"]


@pytest.fixture
async def two_nodes(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder
) -> AsyncIterator[tuple[Served, Served]]:
    a = await serve(memory_config(tmp_path / "a"), minilm)
    b = await serve(memory_config(tmp_path / "b"), minilm)
    yield a, b
    await a.running.stop(grace=0.2)
    await b.running.stop(grace=0.2)


async def _stream(chunks: Iterable[bytes]) -> AsyncIterator[pb.ExportChunk]:
    for raw in chunks:
        yield pb.ExportChunk.FromString(raw)


def _rings() -> tuple[KeyRing, KeyRing]:
    node_a = KeyRing(root_secret=bytes([1]) * 32)
    node_a.use_agent_root(AGENT)
    node_b = KeyRing(root_secret=bytes([2]) * 32)  # another signer root, the same agent root
    node_b.use_agent_root(AGENT, node_a.agent_root(AGENT))
    return node_a, node_b


async def test_node_b_answers_from_the_restored_memories(two_nodes: tuple[Served, Served]) -> None:
    a, b = two_nodes
    async with a.client() as runtime:
        await runtime.create([draft(text, table="facts") for text in FACTS])
    async with a.client("dasync") as dasync:
        exported = [chunk.SerializeToString() async for chunk in dasync.export(AGENT, 2)]
    node_a, node_b = _rings()
    ref, sealed = LifeDataSealer(keyring=node_a).seal_chunk(
        AGENT, kind="memories", plaintext=pack_export(exported), items=len(FACTS), epoch=0
    )
    assert b"Lisbon" not in sealed
    plain = LifeDataSealer(keyring=node_b).open_chunk(AGENT, ref=ref, data=sealed, epochs={0})
    async with b.client("dasync") as dasync:
        assert await dasync.import_(_stream(unpack_export(plain))) == len(FACTS)
    async with b.client() as runtime:
        [best, *_] = await runtime.search(MemoryFilter(agent_id=AGENT), "Where do I live?", limit=3)
    assert best.memory.text == "The user lives in Lisbon"


async def test_a_cut_or_altered_export_imports_nothing(two_nodes: tuple[Served, Served]) -> None:
    a, b = two_nodes
    async with a.client() as runtime:
        await runtime.create([draft(text, table="facts") for text in FACTS])
    async with a.client("dasync") as dasync:
        exported = [chunk.SerializeToString() async for chunk in dasync.export(AGENT, 1)]
    packed = pack_export(exported)
    with pytest.raises(ValueError, match="cut"):
        unpack_export(packed[:-3])
    # A whole batch dropped (framing intact): the memory service refuses the stream.
    with pytest.raises((CorruptExport, ImportRefused)):
        async with b.client("dasync") as dasync:
            await dasync.import_(_stream([*exported[:1], *exported[2:]]))
    async with b.client() as runtime:
        assert await runtime.count(MemoryFilter(agent_id=AGENT)) == 0


def test_export_framing_round_trips() -> None:
    for chunks in ([], [b""], [b"a", b"", b"bc" * 1000], [bytes(range(256))] * 3):
        assert unpack_export(pack_export(chunks)) == chunks
    packed = pack_export([b"hello", b"world"])
    for cut in range(1, len(packed)):
        if cut == 9:  # a whole record: the framing is whole (the export's trailer catches it)
            assert unpack_export(packed[:-cut]) == [b"hello"]
            continue
        with pytest.raises(ValueError, match="cut"):
            unpack_export(packed[:-cut])
