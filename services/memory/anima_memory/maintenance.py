"""Index builds for the embedded store, driven by writes.

Qdrant Edge has no optimizer thread of its own: points land in unindexed
segments (searched by brute force) until `optimize()` builds their HNSW
graphs, and one build covers everything written since the last one. So a
build starts as soon as `index_after` points are waiting, from the write that
crossed the line: the backlog, and so the length of one build, stays bounded
even during a fast bulk import. Builds run as background tasks: a write that
has landed is answered as landed, whatever becomes of the build it started.

An import (a recovery) is the exception: it builds nothing while it runs (a build
would hold the GIL against it), and its memories are indexed in one build
`build_after_import_s` after it landed, so the restored agent's first answers
come before that pause. Until then searches scan those memories exactly.
"""

from __future__ import annotations

import asyncio
import logging
import time

from anima_memory.store.base import VectorStore

log = logging.getLogger(__name__)


class IndexMaintainer:
    def __init__(
        self, store: VectorStore, *, index_after: int, build_after_import_s: float = 0.0
    ) -> None:
        self._store = store
        self._index_after = index_after
        self._build_after_import_s = build_after_import_s
        self._build: asyncio.Task[None] | None = None
        self._not_before = 0.0  # loop time; no build starts before it
        self._deferred: asyncio.Task[None] | None = None
        self.builds = 0
        self.build_seconds = 0.0  # wall time of the finished builds, together

    async def after_import(self) -> None:
        """An import landed: build its index `build_after_import_s` from now (writes
        meanwhile start no build); never waits for it."""
        loop = asyncio.get_running_loop()
        self._not_before = loop.time() + self._build_after_import_s
        if self._deferred is not None:
            self._deferred.cancel()
        self._deferred = asyncio.create_task(self._after_delay(), name="memory-index-deferred")

    async def after_write(self) -> None:
        """Start a build if enough points wait and none is running; never waits for it."""
        if self._build is not None and not self._build.done():
            return  # the next write after it checks again
        if asyncio.get_running_loop().time() < self._not_before:
            return  # an import's deferred build comes later (after_import)
        stats = await asyncio.to_thread(self._store.stats)
        waiting = stats.points - stats.indexed_points
        if waiting >= self._index_after and (self._build is None or self._build.done()):
            self._build = asyncio.create_task(self._run(waiting), name="memory-index-build")

    async def wait(self) -> None:
        """Let a running build finish (before the store closes); a deferred one is
        dropped (the next write, or the next start's first write, builds it)."""
        if self._deferred is not None:
            self._deferred.cancel()
        if self._build is not None:
            await asyncio.gather(self._build, return_exceptions=True)

    async def _after_delay(self) -> None:
        await asyncio.sleep(self._build_after_import_s)
        # The latest import's task (an earlier one was cancelled): the window is over,
        # whatever the clock's granularity says.
        self._not_before = 0.0
        await self.after_write()

    async def _run(self, waiting: int) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._store.optimize)
        except Exception:
            log.exception("index build failed; the next write retries")
            return
        took = time.perf_counter() - started
        self.builds += 1
        self.build_seconds += took
        log.info("indexed %d memories in %.1f s", waiting, took)
