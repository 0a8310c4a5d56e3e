"""Knowledge: chunking (bounded, overlapping, sentence-aware, deterministic), ingestion
into the real memory service (documents and fragments, idempotent, files only under
the knowledge directory), and the knowledge provider's prompt section."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from anima_memory.service import MemoryService
from anima_memory_api.types import Memory, MemoryFilter
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character, KnowledgeItem
from anima_runtime.plugins.knowledge import chunking, ingest, sources
from anima_runtime.plugins.knowledge.chunking import chunk_text
from anima_runtime.plugins.knowledge.ingest import DOCUMENT_TEXT_BYTES, ingest_knowledge
from anima_runtime.plugins.knowledge.provider import format_knowledge, knowledge_provider
from anima_runtime.plugins.types import Content, Message

AGENT = "ada-agent"


def numbered_sentences(count: int) -> str:
    """Sentences of unique words, so any chunk's place in the text is unambiguous."""
    return " ".join(f"Sentence s{n} has words w{n}a w{n}b w{n}c and w{n}d." for n in range(count))


def words(text: str) -> list[str]:
    return text.split()


def merged(chunks: Sequence[str]) -> list[str]:
    """The chunks' words with each chunk's overlap with the one before removed."""
    out = words(chunks[0])
    for before, chunk in itertools.pairwise(chunks):
        prev, cur = words(before), words(chunk)
        shared = max(
            k for k in range(len(cur) + 1) if k <= len(prev) and prev[len(prev) - k :] == cur[:k]
        )
        out.extend(cur[shared:])
    return out


# ---------------------------------------------------------------- chunking


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t \n\n  ") == []


def test_short_text_is_one_chunk_as_written() -> None:
    text = "# Title\nOne line. Another!\n\nA new paragraph."
    assert chunk_text(text) == [text]


@pytest.mark.parametrize(("size", "overlap"), [(200, 40), (120, 0), (80, 60), (1000, 100)])
def test_chunks_are_bounded_overlap_and_cover_the_text_in_order(size: int, overlap: int) -> None:
    text = numbered_sentences(60)
    chunks = chunk_text(text, size=size, overlap=overlap)
    assert len(chunks) > 1
    assert all(0 < len(c) <= size for c in chunks)
    assert merged(chunks) == words(text)
    for before, chunk in itertools.pairwise(chunks):
        shared = len(words(before)) + len(words(chunk)) - len(merged([before, chunk]))
        if overlap == 0:
            assert shared == 0
        else:
            assert shared > 0  # some context carried over
            assert len(" ".join(words(chunk)[:shared])) <= overlap


def test_chunks_break_between_sentences() -> None:
    chunks = chunk_text(numbered_sentences(40), size=300, overlap=60)
    assert all(c.endswith(".") for c in chunks)
    # An overlap of whole sentences: each chunk after the first starts a sentence.
    assert all(c.startswith("Sentence") for c in chunks)


def test_a_long_sentence_breaks_between_words_and_a_long_word_inside_it() -> None:
    sentence = " ".join(f"word{n}" for n in range(200))
    chunks = chunk_text(sentence, size=100, overlap=20)
    assert all(len(c) <= 100 for c in chunks)
    assert merged(chunks) == words(sentence)
    long_word = "x" * 250
    assert chunk_text(long_word, size=100, overlap=10) == ["x" * 100, "x" * 100, "x" * 50]


def test_unicode_text_keeps_every_character() -> None:
    text = "Ωμέγα λέξη. " * 30 + "東京は大きい。大阪も大きい\uff01" * 20 + " 🚀 done."
    chunks = chunk_text(text, size=64, overlap=0)
    assert all(len(c) <= 64 for c in chunks)
    assert "".join(re.sub(r"\s", "", c) for c in chunks) == re.sub(r"\s", "", text)
    assert "東京は大きい。大阪も大きい\uff01" in "".join(
        chunks
    )  # no spaces added between CJK sentences


def test_chunking_is_deterministic_and_handles_a_large_text() -> None:
    text = numbered_sentences(20_000)  # about a megabyte
    first = chunk_text(text)
    assert first == chunk_text(text)
    assert all(len(c) <= chunking.CHUNK_SIZE for c in first)
    assert merged(first) == words(text)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=r"size|overlap"):
        chunk_text("text", size=size, overlap=overlap)


# ---------------------------------------------------------------- ingestion


async def table(memory: MemoryService, name: str) -> list[Memory]:
    return await memory.recent(MemoryFilter(agent_id=AGENT, table=name), 1000)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    (root / "guides" / "nested").mkdir(parents=True)
    (root / "about.md").write_text("# About\nAda keeps a verifiable log.\n", encoding="utf-8")
    (root / "guides" / "wallets.txt").write_text(numbered_sentences(40), encoding="utf-8")
    (root / "guides" / "nested" / "faq.json").write_text('{"q": "why?", "a": "because."}')
    (root / "guides" / "image.png").write_bytes(b"\x89PNG not text")
    (root / "guides" / ".hidden.md").write_text("hidden notes")
    return root


async def test_ingest_stores_documents_and_their_fragments(
    memory: MemoryService, base: Path
) -> None:
    character = Character(
        name="Ada",
        knowledge=(
            KnowledgeItem(text="Ada was created in 2024."),
            KnowledgeItem(path="about.md"),
            KnowledgeItem(directory="guides", shared=True),
        ),
    )
    report = await ingest_knowledge(memory, AGENT, character, base_dir=base)

    assert [d.source for d in report.documents][1:] == [
        "about.md",
        "guides/wallets.txt",
        "guides/nested/faq.json",
    ]
    assert report.documents[0].source.startswith("inline:")
    assert report.skipped == ()
    documents = {d.id: d for d in await table(memory, "documents")}
    fragments = await table(memory, "fragments")
    assert len(documents) == 4
    wallets = next(d for d in report.documents if d.source == "guides/wallets.txt")
    assert wallets.fragments == len(chunk_text(numbered_sentences(40)))
    assert len(fragments) == sum(d.fragments for d in report.documents) == report.created - 4
    assert report.present == 0
    for document in report.documents:
        stored = documents[document.document_id]
        assert stored.fields["source"] == document.source
        parts = sorted(
            (f for f in fragments if f.fields["document_id"] == document.document_id),
            key=lambda f: f.fields["position"],
        )
        assert [f.fields["position"] for f in parts] == list(range(document.fragments))
        assert [f.text for f in parts] == chunk_text(stored.text)
    assert documents[wallets.document_id].fields["shared"] is True
    inline = documents[report.documents[0].document_id]
    assert inline.text == "Ada was created in 2024." and inline.fields["kind"] == "inline"


async def test_a_second_ingest_creates_nothing(memory: MemoryService, base: Path) -> None:
    character = Character(
        name="Ada",
        knowledge=(KnowledgeItem(text="Ada likes tea."), KnowledgeItem(directory="guides")),
    )
    first = await ingest_knowledge(memory, AGENT, character, base_dir=base)
    before = {m.id for m in await table(memory, "fragments")}
    again = await ingest_knowledge(memory, AGENT, character, base_dir=base)

    assert again.created == 0 and again.present == first.created > 0
    assert [d.document_id for d in again.documents] == [d.document_id for d in first.documents]
    assert {m.id for m in await table(memory, "fragments")} == before
    # The same text named twice in one ingest is stored once.
    twice = Character(name="Ada", knowledge=(KnowledgeItem(text="Tea."),) * 2)
    report = await ingest_knowledge(memory, AGENT, twice, base_dir=None)
    assert len(report.documents) == 1 and report.created == 2


async def test_a_changed_file_gets_new_memories(memory: MemoryService, base: Path) -> None:
    character = Character(name="Ada", knowledge=(KnowledgeItem(path="about.md"),))
    first = await ingest_knowledge(memory, AGENT, character, base_dir=base)
    (base / "about.md").write_text("# About\nAda moved to a new enclave.\n", encoding="utf-8")
    second = await ingest_knowledge(memory, AGENT, character, base_dir=base)
    assert second.created == 2 and second.present == 0
    assert second.documents[0].document_id != first.documents[0].document_id


async def test_ids_are_per_agent(memory: MemoryService) -> None:
    character = Character(name="Ada", knowledge=(KnowledgeItem(text="Shared fact."),))
    one = await ingest_knowledge(memory, AGENT, character, base_dir=None)
    two = await ingest_knowledge(memory, "bea-agent", character, base_dir=None)
    assert two.created == 2
    assert one.documents[0].document_id != two.documents[0].document_id


async def test_paths_outside_the_knowledge_directory_are_refused(
    memory: MemoryService, base: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the operator's secret", encoding="utf-8")
    os.symlink(secret, base / "guides" / "leak.txt")
    os.symlink(tmp_path, base / "up")
    character = Character(
        name="Ada",
        knowledge=(
            KnowledgeItem(path="../secret.txt"),
            KnowledgeItem(path=str(secret)),
            KnowledgeItem(path="up/secret.txt"),
            KnowledgeItem(directory=".."),
            KnowledgeItem(directory="guides"),
        ),
    )
    report = await ingest_knowledge(memory, AGENT, character, base_dir=base)

    reasons = {s.source: s.reason for s in report.skipped}
    for source in ("../secret.txt", str(secret), "up/secret.txt", ".."):
        assert "outside the knowledge directory" in reasons[source]
    assert reasons["guides/leak.txt"] == "links outside the knowledge directory"
    texts = [m.text for m in await table(memory, "documents")]
    assert all("secret" not in t for t in texts) and len(texts) == 2


async def test_unusable_files_are_skipped_and_reported(
    memory: MemoryService, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (base / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (base / "empty.md").write_text("  \n")
    (base / "big.txt").write_text("word " * 200)
    (base / "notes.pdf").write_text("not a text format")
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 500)
    character = Character(
        name="Ada",
        knowledge=(
            KnowledgeItem(path="latin1.txt"),
            KnowledgeItem(path="empty.md"),
            KnowledgeItem(path="big.txt"),
            KnowledgeItem(path="notes.pdf"),
            KnowledgeItem(path="missing.md"),
            KnowledgeItem(directory="nowhere"),
            KnowledgeItem(path="about.md"),
        ),
    )
    report = await ingest_knowledge(memory, AGENT, character, base_dir=base)

    assert {s.source: s.reason for s in report.skipped} == {
        "latin1.txt": "is not UTF-8 text",
        "empty.md": "is empty",
        "big.txt": "is 1000 bytes; at most 500",
        "notes.pdf": "not a .json/.md/.txt file",
        "missing.md": "no such file",
        "nowhere": "no such directory",
    }
    assert [d.source for d in report.documents] == ["about.md"]


async def test_without_a_knowledge_directory_only_inline_text_is_read(
    memory: MemoryService, base: Path
) -> None:
    character = Character(
        name="Ada", knowledge=(KnowledgeItem(path="about.md"), KnowledgeItem(text="Inline."))
    )
    report = await ingest_knowledge(memory, AGENT, character, base_dir=None)
    assert [s.source for s in report.skipped] == ["about.md"]
    assert len(report.documents) == 1 and report.created == 2


async def test_a_long_document_is_stored_truncated_with_all_its_fragments(
    memory: MemoryService, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH", 4)
    text = numbered_sentences(1500)  # about 70 kB
    (base / "long.md").write_text(text, encoding="utf-8")
    character = Character(name="Ada", knowledge=(KnowledgeItem(path="long.md"),))
    # Big chunks keep the embedding work small; the batching is what is tested.
    report = await ingest_knowledge(memory, AGENT, character, base_dir=base, size=4000)

    [document] = await table(memory, "documents")
    assert document.fields["truncated"] is True
    assert document.fields["length"] == len(text)
    assert len(document.text.encode()) <= DOCUMENT_TEXT_BYTES and text.startswith(document.text)
    fragments = await table(memory, "fragments")
    assert len(fragments) == report.documents[0].fragments > 3 * 4  # in several batches
    ordered = sorted(fragments, key=lambda f: f.fields["position"])
    assert merged([f.text for f in ordered]) == words(text)


# ---------------------------------------------------------------- the provider


async def knowledge_state(memory: MemoryService, query: str, limit: int = 5) -> State:
    vector = (await memory.embed([query]))[0]
    found = await memory.search(
        MemoryFilter(agent_id=AGENT, table="fragments"), vector.tolist(), limit=limit
    )
    message = Message(
        "00000000-0000-4000-8000-000000000001", AGENT, "sam", "room-1", Content(query), 0
    )
    return State(
        character=Character(name="Ada"),
        message=message,
        message_vector=vector,
        knowledge=tuple(found),
    )


async def test_the_provider_shows_the_retrieved_fragments_best_first(
    memory: MemoryService,
) -> None:
    character = Character(
        name="Ada",
        knowledge=(
            KnowledgeItem(text="The enclave seals every snapshot before it leaves the host."),
            KnowledgeItem(text="Ada's favourite tea is\nsmoky lapsang souchong."),
            KnowledgeItem(text="Owners sign the policy that limits what the agent may sign."),
        ),
    )
    await ingest_knowledge(memory, AGENT, character, base_dir=None)
    state = await knowledge_state(memory, "What tea does Ada like?")

    result = await knowledge_provider.get(None, state.message, state)  # type: ignore[arg-type]
    lines = result.text.splitlines()
    assert lines[0] == "# Knowledge"
    assert lines[1] == "- Ada's favourite tea is smoky lapsang souchong."
    assert len(lines) == 4 and result.values == {"knowledge": result.text}
    assert result.data["fragment_ids"] == [s.memory.id for s in state.knowledge]


async def test_the_provider_keeps_within_its_budget(memory: MemoryService, base: Path) -> None:
    character = Character(name="Ada", knowledge=(KnowledgeItem(path="guides/wallets.txt"),))
    await ingest_knowledge(memory, AGENT, character, base_dir=base)
    state = await knowledge_state(memory, "Sentence s3 words", limit=10)

    text, ids = format_knowledge(state, budget=1000)
    assert len(text) <= 1000 and 0 < len(ids) < 10
    assert text.splitlines()[1] == f"- {state.knowledge[0].memory.text}"
    tiny, [only] = format_knowledge(state, budget=120)
    assert len(tiny) <= 120 and tiny.endswith("…") and only == state.knowledge[0].memory.id
    empty = State(
        character=state.character, message=state.message, message_vector=state.message_vector
    )
    assert format_knowledge(empty) == ("", [])
