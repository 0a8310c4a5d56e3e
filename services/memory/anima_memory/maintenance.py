"""Background index builds for the embedded store.

Qdrant Edge has no optimizer thread of its own: points land in an unindexed
segment (searched by brute force) until `optimize()` builds their HNSW graph.
Searching unindexed points gets slower as they pile up, so once enough have
accumulated the maintainer builds their index in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from anima_memory.store.base import VectorStore

log = logging.getLogger(__name__)


class IndexMaintainer:
    def __init__(self, store: VectorStore, *, index_after: int, interval_s: float = 5.0) -> None:
        self._store = store
        self._index_after = index_after
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.builds = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="memory-index-maintainer")

    async def stop(self) -> None:
        """Stop scheduling; a build already running finishes first (it cannot be interrupted)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def build_if_due(self) -> bool:
        stats = await asyncio.to_thread(self._store.stats)
        unindexed = stats.points - stats.indexed_points
        if unindexed < self._index_after:
            return False
        started = time.perf_counter()
        # Shielded: cancelling the wait must not leave the store mid-build
        # while close() runs; stop() waits for the build to end.
        await asyncio.shield(asyncio.to_thread(self._store.optimize))
        self.builds += 1
        log.info("indexed %d new memories in %.1f s", unindexed, time.perf_counter() - started)
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.build_if_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("index build failed; will retry")
