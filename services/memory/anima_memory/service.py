"""The memory service's logic, transport-free: validate, embed, deduplicate, store.

Writes are serialized: per agent (so a `unique` check and its insert are one
step, and an export is a point-in-time snapshot), then briefly across agents
(so an id can never be claimed by two agents at once). Reads run freely.
Store calls run in worker threads, except short reads on an engine that holds
the GIL for the whole call (the embedded one): there the loop waits either way.
What a request may hold, and the checks it passes first, are in checks.py.

Those locks live in this process, and Qdrant has no transactions across
processes: two replicas writing one agent would race (two copies of a unique
memory, a torn export). So replicas shard the agents (anima_memory_api.shards):
each serves one shard and refuses every call, reads included, for an agent of
another shard (WrongShard) before touching the store. Refusing reads too keeps
one owner per agent and turns a misrouted call into an error at once, rather
than an agent that silently seems to have forgotten everything. Embed names no
agent and is served by every replica.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import ParamSpec, TypeVar

import numpy as np

from anima_memory.changes import ChangeJournal, ChangeSet
from anima_memory.checks import (
    Limits,
    check_agent_id,
    check_draft,
    check_filter,
    check_imported_page,
    check_limit,
    check_text,
)
from anima_memory.embeddings.base import Embedder
from anima_memory.store.base import VectorStore
from anima_memory_api.errors import (
    CorruptExport,
    ImportRefused,
    InvalidMemoryRequest,
    MemoryExists,
    WrongShard,
)
from anima_memory_api.shards import Shard, shard_of
from anima_memory_api.types import (
    CreateResult,
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
    Vector,
    check_memory_id,
    check_vector,
)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_SEARCH_LIMIT = 10
DEFAULT_RECENT_LIMIT = 20
EXPORT_PAGE = 256
# Float32 cosine of identical unit vectors can land a hair under 1.0.
SIMILARITY_SLACK = 1e-6


@dataclass
class ExportCursor:
    """Filled while an export runs: the change sequence its snapshot reflects."""

    sequence: int = 0


class MemoryService:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        limits: Limits = Limits(),
        *,
        after_write: Callable[[], Awaitable[None]] | None = None,
        after_import: Callable[[], Awaitable[None]] | None = None,
        shard: Shard | None = None,
        journal: ChangeJournal | None = None,
    ) -> None:
        if store.dimension != embedder.dimension:
            raise ValueError(
                f"store holds {store.dimension}-d vectors, embedder makes {embedder.dimension}-d"
            )
        self.store = store
        self.embedder = embedder
        self.limits = limits
        self._agent_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._id_lock = asyncio.Lock()
        self._after_write = after_write
        self._after_import = after_import
        self.shard = shard or Shard()  # None: one replica serves every agent
        self.journal = journal or ChangeJournal()  # the change feed (anima_memory.changes)

    @property
    def dimension(self) -> int:
        return self.store.dimension

    # ------------------------------------------------------------------ writes

    async def create(self, drafts: Sequence[MemoryDraft]) -> list[CreateResult]:
        """Store `drafts` (one agent per call), all or nothing; results in order."""
        if not drafts:
            raise InvalidMemoryRequest("no memories given")
        if len(drafts) > self.limits.max_batch:
            raise InvalidMemoryRequest(
                f"{len(drafts)} memories in one batch; at most {self.limits.max_batch}"
            )
        agent_id = self._served(drafts[0].agent_id)
        now = _now_ms()
        checked = [
            check_draft(i, d, agent_id, now, limits=self.limits, dimension=self.dimension)
            for i, d in enumerate(drafts)
        ]
        ids = [m.id for m in checked]
        if len(set(ids)) != len(ids):
            raise InvalidMemoryRequest("the batch names one memory id twice")
        memories = await self._embed_missing(checked)
        async with self._agent_locks[agent_id]:
            results, keep = await self._run(self._deduplicate, memories)
            async with self._id_lock:
                taken = await self._run(self.store.get, [m.id for m in keep])
                if taken:
                    raise MemoryExists(f"memory id {taken[0].id} already exists")
                if keep:
                    await self._run(self.journal.record, agent_id, "put", [m.id for m in keep])
                    await self._write(self.store.upsert, keep)
            await self._wrote()
        return results

    async def delete(self, agent_id: str, memory_id: str) -> bool:
        self._served(agent_id)
        memory_id = check_memory_id(memory_id)
        async with self._agent_locks[agent_id]:
            found = await self._run(self.store.get, [memory_id])
            if not found or found[0].agent_id != agent_id:
                return False
            await self._run(self.journal.record, agent_id, "del", [memory_id])
            await self._write(self.store.delete, [memory_id])
        return True

    async def delete_where(self, where: MemoryFilter) -> int:
        """Delete a room's memories (room set) or the whole agent's; returns how many."""
        self._served(where.agent_id)  # a request names the agent, not a filter
        check_filter(where)
        async with self._agent_locks[where.agent_id]:
            count = await self._run(self.store.count, where)
            if count:
                ids = await self._ids_where(where)
                await self._run(self.journal.record, where.agent_id, "del", ids)
                await self._write(self.store.delete_where, where)
        return count

    # ------------------------------------------------------------------ reads

    async def search(
        self,
        where: MemoryFilter,
        query: Sequence[float] | Vector | str,
        *,
        limit: int = 0,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredMemory]:
        search = SearchQuery(where, query, limit, min_score, with_vectors)
        checked, vector = self._check_search(search, "")
        if vector is None:
            vector = (await self.embedder.embed([str(checked.query)]))[0]
        return await self._read(self._search_one, checked, vector)

    async def search_many(self, searches: Sequence[SearchQuery]) -> list[list[ScoredMemory]]:
        """Each search's results, in order, as `search` would give them: all checked
        first, the text queries embedded in one model call, the store searched in one
        worker-thread hop."""
        if len(searches) > self.limits.max_searches:
            raise InvalidMemoryRequest(
                f"{len(searches)} searches in one batch; at most {self.limits.max_searches}"
            )
        if not searches:
            return []
        checked = [self._check_search(s, f"searches[{n}].") for n, s in enumerate(searches)]
        texts = list(dict.fromkeys(str(s.query) for s, vector in checked if vector is None))
        rows: dict[str, Vector] = {}
        if texts:
            rows = dict(zip(texts, await self.embedder.embed(texts), strict=True))
        ready = [(s, rows[str(s.query)] if v is None else v) for s, v in checked]
        return await self._read(self._search_all, ready)

    async def get(
        self, agent_id: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> tuple[list[Memory], list[str]]:
        """The agent's memories among `ids` (request order) and the ids not found."""
        self._served(agent_id)
        if len(ids) > self.limits.max_results:
            raise InvalidMemoryRequest(f"{len(ids)} ids; at most {self.limits.max_results}")
        wanted = [check_memory_id(i, f"ids[{n}]") for n, i in enumerate(ids)]
        found = await self._read(self.store.get, wanted, with_vectors=with_vectors)
        # Another agent's memory is reported missing, not forbidden: ids leak nothing.
        own = [m for m in found if m.agent_id == agent_id]
        present = {m.id for m in own}
        return own, [i for i in wanted if i not in present]

    async def recent(self, where: MemoryFilter, limit: int = 0) -> list[Memory]:
        self._served(check_filter(where).agent_id, "filter.agent_id")
        return await self._read(
            self.store.recent, where, check_limit(limit, DEFAULT_RECENT_LIMIT, self.limits)
        )

    async def count(self, where: MemoryFilter) -> int:
        self._served(check_filter(where).agent_id, "filter.agent_id")
        return await self._read(self.store.count, where)

    async def embed(self, texts: Sequence[str]) -> Vector:
        if len(texts) > self.limits.max_batch:
            raise InvalidMemoryRequest(f"{len(texts)} texts; at most {self.limits.max_batch}")
        for n, text in enumerate(texts):
            check_text(text, f"texts[{n}]", self.limits)
        return await self.embedder.embed(texts)

    # ------------------------------------------------------------------ export / import

    def export(
        self, agent_id: str, page: int = EXPORT_PAGE, cursor: ExportCursor | None = None
    ) -> AsyncIterator[list[Memory]]:
        """The agent's memories in id order, in pages, as one consistent snapshot
        (`cursor` gets the change sequence it reflects once the first page is read).

        Checked before the first page is asked for, so a bad request fails
        before any of the stream is written.
        """
        self._served(agent_id)
        self._check_page(page)
        return self._export_pages(agent_id, page, cursor or ExportCursor())

    async def _export_pages(
        self, agent_id: str, page: int, cursor: ExportCursor
    ) -> AsyncIterator[list[Memory]]:
        where = MemoryFilter(agent_id=agent_id)
        async with self._agent_locks[agent_id]:
            cursor.sequence = await self._run(self.journal.head, agent_id)
            offset: str | None = None
            while True:
                memories, offset = await self._run(self.store.scroll, where, offset, page)
                if memories:
                    yield memories
                if offset is None:
                    return

    async def changes(self, agent_id: str, since: int) -> tuple[ChangeSet, list[Memory]]:
        """The agent's changes after change `since`, as the store holds them now: the
        memories written since (with vectors) and the ids deleted since. One consistent
        point in time (the agent's lock); ChangeCursorAhead for a cursor past the head."""
        self._served(agent_id)
        if since < 0:
            raise InvalidMemoryRequest("since must be a change number (>= 0)")
        async with self._agent_locks[agent_id]:
            changed = await self._run(self.journal.since, agent_id, since)
            ids = list(changed.written + changed.deleted)
            held = {m.id: m for m in await self._run(self.store.get, ids, with_vectors=True)}
        # Journal first, store second: an id whose store write never landed (a crash
        # between the two) is reported as the store has it, never as the journal says.
        written = [held[i] for i in changed.written if i in held]
        deleted = tuple(i for i in changed.deleted if i not in held or i in changed.written)
        return replace(changed, written=tuple(m.id for m in written), deleted=deleted), written

    def _check_page(self, page: int) -> None:
        if not 1 <= page <= self.limits.max_batch:
            raise InvalidMemoryRequest(f"batch_size must be 1..{self.limits.max_batch}")

    async def _ids_where(self, where: MemoryFilter) -> list[str]:
        ids: list[str] = []
        offset: str | None = None
        while True:
            memories, offset = await self._run(self.store.scroll, where, offset, EXPORT_PAGE)
            ids += (m.id for m in memories)
            if offset is None:
                return ids

    async def import_(
        self,
        agent_id: str,
        pages: AsyncIterator[Sequence[Memory]],
        sequence: Callable[[], int] = lambda: 0,
    ) -> int:
        """Load an export's pages into an agent that has none; on any error, remove them.

        The caller checks the stream's framing and digest (export_format) and
        raises from `pages`; every memory is validated here before it is written.
        Once all landed, the agent's change feed continues from `sequence()` (the
        export's), so DA sync's cursors stay valid on the importing node.
        """
        self._served(agent_id)
        where = MemoryFilter(agent_id=agent_id)
        async with self._agent_locks[agent_id]:
            if await self._run(self.store.count, where):
                raise ImportRefused(
                    f"agent {agent_id} already has memories; delete them before importing"
                )
            seen: set[str] = set()
            try:
                async for page in pages:
                    checked = check_imported_page(
                        len(seen), page, agent_id, limits=self.limits, dimension=self.dimension
                    )
                    for memory in checked:
                        if memory.id in seen:
                            raise CorruptExport(f"memory {memory.id} appears twice in the export")
                        seen.add(memory.id)
                    async with self._id_lock:
                        taken = await self._run(self.store.get, [m.id for m in checked])
                        if taken:
                            raise ImportRefused(f"memory id {taken[0].id} already exists")
                        await self._write(self.store.upsert, checked)
                await self._run(self.journal.restart_at, agent_id, sequence())
            except BaseException:
                await self._write(self.store.delete_where, where)
                raise
        # No index build while importing (one holds the GIL against the import, in
        # this process); after_import decides when the imported memories are indexed.
        if self._after_import is not None:
            await self._after_import()
        else:
            await self._wrote()
        return len(seen)

    # ------------------------------------------------------------------ helpers

    def _served(self, agent_id: str, what: str = "agent_id") -> str:
        """`agent_id`, checked, if this replica serves it; else WrongShard."""
        check_agent_id(agent_id, what)
        if not self.shard.owns(agent_id):
            owner = shard_of(agent_id, self.shard.count)
            raise WrongShard(
                f"agent {agent_id} is in shard {owner} of {self.shard.count}, and this "
                f"replica serves {self.shard}: route each call by its agent "
                "(anima_memory_api.shards)"
            )
        return agent_id

    def _check_search(self, search: SearchQuery, at: str) -> tuple[SearchQuery, Vector | None]:
        """`search` with its limit resolved, and its query vector checked (None: a
        text to embed). `at` prefixes the field names in errors ("searches[2].")."""
        check_filter(search.where, f"{at}filter")
        self._served(search.where.agent_id, f"{at}filter.agent_id")
        limit = check_limit(search.limit, DEFAULT_SEARCH_LIMIT, self.limits, f"{at}limit")
        min_score = search.min_score
        if min_score is not None and not -1.0 <= min_score <= 1.0:
            raise InvalidMemoryRequest(f"{at}min_score must be within [-1, 1], got {min_score}")
        checked = replace(search, limit=limit)
        if isinstance(search.query, str):
            check_text(search.query, f"{at}text" if at else "query text", self.limits)
            return checked, None
        what = f"{at}vector" if at else "query vector"
        return checked, check_vector(search.query, self.dimension, what)

    def _search_one(self, search: SearchQuery, vector: Vector) -> list[ScoredMemory]:
        """One checked search (runs in a worker thread)."""
        return self.store.search(
            vector,
            search.where,
            search.limit,
            min_score=search.min_score,
            with_vectors=search.with_vectors,
        )

    def _search_all(
        self, searches: Sequence[tuple[SearchQuery, Vector]]
    ) -> list[list[ScoredMemory]]:
        """Checked searches, each with its vector (runs in a worker thread)."""
        return [self._search_one(search, vector) for search, vector in searches]

    async def _embed_missing(self, memories: Sequence[Memory]) -> list[Memory]:
        """The memories, those without a (checked) vector given embedded in one call."""
        missing = [i for i, m in enumerate(memories) if m.vector.size == 0]
        if not missing:
            return list(memories)
        embedded = await self.embedder.embed([memories[i].text for i in missing])
        out = list(memories)
        for row, i in enumerate(missing):
            out[i] = replace(out[i], vector=embedded[row])
        return out

    def _deduplicate(self, memories: Sequence[Memory]) -> tuple[list[CreateResult], list[Memory]]:
        """Results for every memory and the ones to write (runs in a worker thread)."""
        threshold = self.limits.duplicate_threshold - SIMILARITY_SLACK
        results: list[CreateResult] = []
        keep: list[Memory] = []
        for memory in memories:
            duplicate = self._duplicate_of(memory, keep, threshold) if memory.unique else None
            if duplicate is None:
                results.append(CreateResult(id=memory.id, created=True))
                keep.append(memory)
            else:
                results.append(
                    CreateResult(
                        id=duplicate[0],
                        created=False,
                        duplicate_of=duplicate[0],
                        similarity=duplicate[1],
                    )
                )
        return results, keep

    def _duplicate_of(
        self, memory: Memory, batch: Sequence[Memory], threshold: float
    ) -> tuple[str, float] | None:
        for earlier in batch:
            if (earlier.room_id, earlier.table) == (memory.room_id, memory.table):
                similarity = float(np.dot(earlier.vector, memory.vector))
                if similarity >= threshold:
                    return earlier.id, similarity
        where = MemoryFilter(agent_id=memory.agent_id, room_id=memory.room_id, table=memory.table)
        # The planner scans a small room+table exactly; a large one through its
        # HNSW graph, which finds anything this close.
        hits = self.store.search(memory.vector, where, 1, min_score=threshold)
        return (hits[0].memory.id, hits[0].score) if hits else None

    async def _wrote(self) -> None:
        if self._after_write is not None:
            await self._after_write()

    @staticmethod
    async def _write(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store write to its end even if the caller is cancelled meanwhile.

        A thread cannot be stopped: returning early would release the locks
        while the write still lands (an id check or an import rollback would
        then race it). Cancellation is re-raised once the write has finished.
        """
        task = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(task)
                break
            except asyncio.CancelledError:
                if task.done():
                    raise
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        return result

    @staticmethod
    async def _run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A short read: inline where the store holds the GIL anyway (a worker thread
        would only add a hop: two thread switches and a wake-up of the loop)."""
        if self.store.holds_gil:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


__all__ = [
    "CreateResult",
    "MemoryDraft",
    "MemoryService",
    "SearchQuery",
]
