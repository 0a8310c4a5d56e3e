"""Knowledge, as ElizaOS keeps it: each of the character's knowledge entries (inline
text, a file, a directory of files) becomes one "documents" memory and the
"fragments" it is split into, which the runtime searches for every message and
the knowledge provider puts in the prompt.

Ingesting is idempotent: a memory's id is derived from the agent, the document's
source, its content hash and the fragment's position, so ingesting the same
knowledge again creates nothing, and a changed file gets new memories.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima_memory_api.types import MemoryDraft
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character, KnowledgeItem
from anima_runtime.plugins.types import AgentContext, Message, Provider, ProviderResult

DOCUMENTS = "documents"
FRAGMENTS = "fragments"

#: Fragment size in characters: about 200 words, within MiniLM's 256-token window.
CHUNK_SIZE = 800
CHUNK_OVERLAP = 120
TEXT_SUFFIXES = frozenset({".md", ".txt", ".json"})
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 1000
#: A document memory holds at most this much of its text (the memory service takes 64 KiB).
DOCUMENT_TEXT_BYTES = 60_000
BATCH = 256
#: How much of the prompt the knowledge provider may fill, in characters.
KNOWLEDGE_BUDGET = 4000

_NAMESPACE = uuid.UUID("3e7d7830-c1a0-4e60-90af-6b7cea42381a")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# After . ! ? or an ellipsis and a space; after the CJK full stops with or without one.
_SENTENCE_END = re.compile("(?<=[.!?\u2026])\\s+|(?<=[\u3002\uff01\uff1f])\\s*")


# ------------------------------------------------------------------ chunking


def chunk_text(text: str, *, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Split `text` into chunks of at most `size` characters, each starting with up to
    `overlap` characters from the end of the one before.

    Chunks break between sentences where they can, inside a sentence between words
    where one sentence is too long, and inside a word only where a word is. The
    same text always gives the same chunks; blank text gives none.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, size), got {overlap} with size {size}")
    chunks: list[str] = []
    current: list[tuple[str, str]] = []  # (separator before, piece)
    length = 0  # of the chunk `current` makes
    for separator, piece in _units(text, size):
        if current and length + len(separator) + len(piece) > size:
            chunks.append(_joined(current))
            # The overlap must leave room for the piece that starts the next chunk.
            current = _tail(current, min(overlap, size - len(piece) - len(separator)))
            length = _length(current)
            while current and length + len(separator) + len(piece) > size:
                current.pop(0)
                length = _length(current)
        length += (len(separator) if current else 0) + len(piece)
        current.append((separator, piece))
    if current:
        chunks.append(_joined(current))
    return chunks


def _units(text: str, size: int) -> Iterator[tuple[str, str]]:
    """Sentences (words of an over-long sentence, slices of an over-long word), each
    with what separated it from the one before: a blank line, a line break, a space,
    or nothing (between CJK sentences, between slices of one word). The first
    unit's separator means nothing: a chunk never starts with one."""
    for paragraph in _PARAGRAPH_BREAK.split(text):
        for n_line, line in enumerate(paragraph.strip().splitlines()):
            for n_sentence, (sentence, spaced) in enumerate(_sentences(line)):
                for n_piece, (piece, inside_word) in enumerate(_pieces(sentence, size)):
                    if n_piece:
                        separator = "" if inside_word else " "
                    elif n_sentence:
                        separator = " " if spaced else ""
                    else:
                        separator = "\n" if n_line else "\n\n"
                    yield separator, piece


def _sentences(line: str) -> Iterator[tuple[str, bool]]:
    """The line's sentences, each with whether whitespace came before it."""
    start, spaced = 0, False
    for end in _SENTENCE_END.finditer(line):
        sentence = line[start : end.start()].strip()
        if sentence:
            yield sentence, spaced
        start, spaced = end.end(), bool(end.group())
    sentence = line[start:].strip()
    if sentence:
        yield sentence, spaced


def _pieces(sentence: str, size: int) -> Iterator[tuple[str, bool]]:
    """The sentence, or its words if too long, or slices of a word too long: with
    whether the piece continues the one before inside a word."""
    if len(sentence) <= size:
        yield sentence, False
        return
    for word in sentence.split():
        for start in range(0, len(word), size):
            yield word[start : start + size], start > 0


def _length(units: Sequence[tuple[str, str]]) -> int:
    return sum(len(piece) for _, piece in units) + sum(len(sep) for sep, _ in units[1:])


def _joined(units: Sequence[tuple[str, str]]) -> str:
    return units[0][1] + "".join(sep + piece for sep, piece in units[1:])


def _tail(units: Sequence[tuple[str, str]], overlap: int) -> list[tuple[str, str]]:
    """The last whole pieces that fit in `overlap`; else the last words of the last one."""
    tail: list[tuple[str, str]] = []
    length = 0
    for separator, piece in reversed(units):
        grown = len(piece) + (len(tail[-1][0]) + length if tail else 0)
        if grown > overlap:
            break
        tail.append((separator, piece))
        length = grown
    if tail or overlap <= 0:
        return tail[::-1]
    words: list[str] = []
    length = -1
    for word in reversed(units[-1][1].split()):
        if length + 1 + len(word) > overlap:
            break
        words.append(word)
        length += 1 + len(word)
    return [(" ", " ".join(reversed(words)))] if words else []


# ------------------------------------------------------------------ ingestion


@dataclass(frozen=True, slots=True)
class IngestedDocument:
    source: str  # "inline:<hash>" or the file's path relative to the base directory
    document_id: str
    fragments: int
    created: int  # memories (the document and its fragments) stored by this ingest
    present: int  # memories that were already there


@dataclass(frozen=True, slots=True)
class SkippedSource:
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class IngestReport:
    documents: tuple[IngestedDocument, ...]
    skipped: tuple[SkippedSource, ...]

    @property
    def created(self) -> int:
        return sum(d.created for d in self.documents)

    @property
    def present(self) -> int:
        return sum(d.present for d in self.documents)


@dataclass(frozen=True, slots=True)
class _Source:
    source: str
    kind: str  # inline | file
    text: str
    shared: bool


async def ingest_knowledge(
    memory: MemoryPort,
    agent_id: str,
    character: Character,
    *,
    base_dir: Path | None,
    size: int = CHUNK_SIZE,
    overlap: int = CHUNK_OVERLAP,
) -> IngestReport:
    """Store the character's knowledge as documents and fragments; skip what is there.

    File and directory entries are read under `base_dir` only (a path that
    escapes it, through ".." or a link, is refused); `None` refuses them all.
    An entry that cannot be used is skipped and reported, not raised: one bad
    file does not keep the agent from starting.
    """
    planned, skipped = await asyncio.to_thread(
        _plan, agent_id, character.knowledge, base_dir, size, overlap
    )
    all_drafts = [draft for _, drafts in planned for draft in drafts]
    present: set[str] = set()
    for start in range(0, len(all_drafts), BATCH):
        ids = [d.id for d in all_drafts[start : start + BATCH]]
        found, _ = await memory.get(agent_id, ids)
        present.update(m.id for m in found)
    missing = [d for d in all_drafts if d.id not in present]
    for start in range(0, len(missing), BATCH):
        await memory.create(missing[start : start + BATCH])
    documents = tuple(
        IngestedDocument(
            source=name,
            document_id=drafts[0].id,
            fragments=len(drafts) - 1,
            created=sum(d.id not in present for d in drafts),
            present=sum(d.id in present for d in drafts),
        )
        for name, drafts in planned
    )
    return IngestReport(documents=documents, skipped=tuple(skipped))


def _plan(
    agent_id: str,
    items: Sequence[KnowledgeItem],
    base_dir: Path | None,
    size: int,
    overlap: int,
) -> tuple[list[tuple[str, list[MemoryDraft]]], list[SkippedSource]]:
    """Each usable document's source and memories, each memory once (runs in a worker
    thread: it reads files and chunks them)."""
    sources, skipped = _read_sources(items, base_dir)
    planned: list[tuple[str, list[MemoryDraft]]] = []
    seen: set[str] = set()
    for source in sources:
        drafts = [d for d in _drafts(agent_id, source, size, overlap) if d.id not in seen]
        seen.update(d.id for d in drafts)
        if drafts:  # none when the same text was named twice
            planned.append((source.source, drafts))
    return planned, skipped


def _memory_id(agent_id: str, source: str, digest: str, position: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x00".join((agent_id, source, digest, position))))


def _drafts(agent_id: str, source: _Source, size: int, overlap: int) -> list[MemoryDraft]:
    """The document's memory first, then its fragments in order."""
    data = source.text.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    chunks = chunk_text(source.text, size=size, overlap=overlap)
    stored = source.text.strip().encode("utf-8")[:DOCUMENT_TEXT_BYTES].decode("utf-8", "ignore")
    document_id = _memory_id(agent_id, source.source, digest, "document")
    fields: dict[str, Any] = {
        "source": source.source,
        "kind": source.kind,
        "sha256": digest,
        "length": len(source.text),
        "truncated": len(data) > DOCUMENT_TEXT_BYTES,
        "fragments": len(chunks),
        "shared": source.shared,
    }

    def draft(memory_id: str, table: str, text: str, fields: dict[str, Any]) -> MemoryDraft:
        return MemoryDraft(
            id=memory_id,
            agent_id=agent_id,
            entity_id=agent_id,
            room_id=agent_id,
            table=table,
            text=text,
            fields=fields,
        )

    out = [draft(document_id, DOCUMENTS, stored, fields)]
    for position, chunk in enumerate(chunks):
        out.append(
            draft(
                _memory_id(agent_id, source.source, digest, str(position)),
                FRAGMENTS,
                chunk,
                {"document_id": document_id, "position": position, "source": source.source},
            )
        )
    return out


@dataclass(slots=True)
class _Budget:
    """What is left of the limits on files read for one ingest."""

    bytes: int = MAX_TOTAL_BYTES
    files: int = MAX_FILES


def _read_sources(
    items: Sequence[KnowledgeItem], base_dir: Path | None
) -> tuple[list[_Source], list[SkippedSource]]:
    """Every entry's text, and the entries that cannot be used."""
    sources: list[_Source] = []
    skipped: list[SkippedSource] = []
    budget = _Budget()
    for item in items:
        if item.text:
            digest = hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()
            name = f"inline:{digest[:16]}"
            problem = _text_problem(item.text)
            if problem:
                skipped.append(SkippedSource(name, problem))
            else:
                sources.append(_Source(name, "inline", item.text, item.shared))
            continue
        raw = item.path or item.directory
        if not raw:
            skipped.append(SkippedSource("(empty entry)", "names no text, path or directory"))
            continue
        if base_dir is None:
            skipped.append(SkippedSource(raw, "no knowledge directory to read files from"))
            continue
        root = base_dir.resolve()
        try:
            target = (root / raw).resolve()
        except (OSError, ValueError) as exc:  # a NUL in the name, a link loop
            skipped.append(SkippedSource(raw, f"is not a usable path: {exc}"))
            continue
        if not target.is_relative_to(root):
            skipped.append(SkippedSource(raw, f"is outside the knowledge directory {root}"))
        elif item.path and target.is_file():
            _read_file(root, target, item.shared, budget, sources, skipped)
        elif item.directory and target.is_dir():
            for path in _walk(target):
                _read_file(root, path, item.shared, budget, sources, skipped)
        else:
            kind = "file" if item.path else "directory"
            skipped.append(SkippedSource(raw, f"no such {kind}"))
    return sources, skipped


def _walk(directory: Path) -> Iterator[Path]:
    """Text files under `directory` in a stable order, hidden ones left out."""
    for top, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in TEXT_SUFFIXES:
                yield Path(top) / name


def _read_file(
    root: Path,
    path: Path,
    shared: bool,
    budget: _Budget,
    sources: list[_Source],
    skipped: list[SkippedSource],
) -> None:
    real = path.resolve()
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    if not real.is_relative_to(root):
        skipped.append(SkippedSource(name, "links outside the knowledge directory"))
        return
    if real.suffix.lower() not in TEXT_SUFFIXES:
        skipped.append(SkippedSource(name, f"not a {'/'.join(sorted(TEXT_SUFFIXES))} file"))
        return
    if budget.files <= 0:
        skipped.append(SkippedSource(name, f"more than {MAX_FILES} knowledge files"))
        return
    try:
        size = real.stat().st_size
        if size > MAX_FILE_BYTES:
            skipped.append(SkippedSource(name, f"is {size} bytes; at most {MAX_FILE_BYTES}"))
            return
        if size > budget.bytes:
            skipped.append(SkippedSource(name, f"knowledge beyond {MAX_TOTAL_BYTES} bytes"))
            return
        data = real.read_bytes()
    except OSError as exc:
        skipped.append(SkippedSource(name, f"cannot be read: {exc.strerror or exc}"))
        return
    budget.bytes -= len(data)
    budget.files -= 1
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        skipped.append(SkippedSource(name, "is not UTF-8 text"))
        return
    problem = _text_problem(text)
    if problem:
        skipped.append(SkippedSource(name, problem))
    else:
        sources.append(_Source(name, "file", text, shared))


def _text_problem(text: str) -> str:
    if not text.strip():
        return "is empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    return ""


# ------------------------------------------------------------------ the provider


def format_knowledge(state: State, budget: int = KNOWLEDGE_BUDGET) -> tuple[str, list[str]]:
    """The "# Knowledge" section from the retrieved fragments, best first, within
    `budget` characters; and the ids of the fragments it shows."""
    header = "# Knowledge"
    lines: list[str] = []
    ids: list[str] = []
    used = len(header)
    seen: set[str] = set()
    for scored in state.knowledge:
        text = " ".join(scored.memory.text.split())
        if not text or text in seen:
            continue
        line = f"- {text}"
        room = budget - used - 1  # the newline before the line
        if len(line) > room:
            if lines or room < 40:  # a cut-off line only where nothing else fits
                break
            line = line[: room - 1].rstrip() + "…"
        seen.add(text)
        lines.append(line)
        ids.append(scored.memory.id)
        used += 1 + len(line)
    if not lines:
        return "", []
    return "\n".join([header, *lines]), ids


async def _knowledge(context: AgentContext, message: Message, state: State) -> ProviderResult:
    text, ids = format_knowledge(state)
    return ProviderResult(text=text, values={"knowledge": text}, data={"fragment_ids": ids})


knowledge_provider = Provider(
    name="KNOWLEDGE",
    get=_knowledge,
    description="Passages of the character's knowledge that bear on the message.",
)
