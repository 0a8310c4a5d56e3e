"""Ingesting knowledge: each entry becomes one "documents" memory and its "fragments".

Ingesting is idempotent: a memory's id is derived from the agent, the document's
source, its content hash and the fragment's position, so ingesting the same
knowledge again creates nothing, and a changed file gets new memories.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima_memory_api.types import MemoryDraft
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.character.model import Character, KnowledgeItem
from anima_runtime.plugins.knowledge.chunking import CHUNK_OVERLAP, CHUNK_SIZE, chunk_text
from anima_runtime.plugins.knowledge.sources import SkippedSource, Source, read_sources

DOCUMENTS = "documents"
FRAGMENTS = "fragments"

#: A document memory holds at most this much of its text (the memory service takes 64 KiB).
DOCUMENT_TEXT_BYTES = 60_000
BATCH = 256

_NAMESPACE = uuid.UUID("3e7d7830-c1a0-4e60-90af-6b7cea42381a")


@dataclass(frozen=True, slots=True)
class IngestedDocument:
    source: str  # "inline:<hash>" or the file's path relative to the base directory
    document_id: str
    fragments: int
    created: int  # memories (the document and its fragments) stored by this ingest
    present: int  # memories that were already there


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
    sources, skipped = read_sources(items, base_dir)
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


def _drafts(agent_id: str, source: Source, size: int, overlap: int) -> list[MemoryDraft]:
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
