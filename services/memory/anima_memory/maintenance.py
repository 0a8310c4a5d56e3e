"""Index builds for the embedded store, driven by writes.

Qdrant Edge has no optimizer thread of its own: points land in unindexed
segments (searched by brute force) until `optimize()` builds their HNSW
graphs, and one build covers everything written since the last one. So a
build starts as soon as `index_after` points are waiting, from the write that
crossed the line: the backlog, and so the length of one build, stays bounded
even during a fast bulk import. Builds run as background tasks: a write that
has landed is answered as landed, whatever becomes of the build it started.
"""

from __future__ import annotations

import asyncio
import logging
import time

from anima_memory.store.base import VectorStore

log = logging.getLogger(__name__)


class IndexMaintainer:
    def __init__(self, store: VectorStore, *, index_after: int) -> None:
        self._store = store
        self._index_after = index_after
        self._build: asyncio.Task[None] | None = None
        self.builds = 0

    async def after_write(self) -> None:
        """Start a build if enough points wait and none is running; never waits for it."""
        if self._build is not None and not self._build.done():
            return  # the next write after it checks again
        stats = await asyncio.to_thread(self._store.stats)
        waiting = stats.points - stats.indexed_points
        if waiting >= self._index_after and (self._build is None or self._build.done()):
            self._build = asyncio.create_task(self._run(waiting), name="memory-index-build")

    async def wait(self) -> None:
        """Let a running build finish (before the store closes)."""
        if self._build is not None:
            await asyncio.gather(self._build, return_exceptions=True)

    async def _run(self, waiting: int) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._store.optimize)
        except Exception:
            log.exception("index build failed; the next write retries")
            return
        self.builds += 1
        log.info("indexed %d memories in %.1f s", waiting, time.perf_counter() - started)
