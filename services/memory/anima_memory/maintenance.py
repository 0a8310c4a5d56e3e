"""Index builds for the embedded store, driven by writes.

Qdrant Edge has no optimizer thread of its own: points land in unindexed
segments (searched by brute force) until `optimize()` builds their HNSW
graphs, and one build covers everything written since the last one. So builds
run as soon as `index_after` points are waiting, from the write that crossed
the line: the backlog, and so the length of one build, stays bounded even
during a fast bulk import.
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
        self._building = asyncio.Lock()
        self.builds = 0

    async def after_write(self) -> None:
        """Build the waiting points' index if enough are waiting (one build at a time)."""
        if self._building.locked():
            return  # the running build will be followed by a check on the next write
        async with self._building:
            stats = await asyncio.to_thread(self._store.stats)
            waiting = stats.points - stats.indexed_points
            if waiting < self._index_after:
                return
            started = time.perf_counter()
            # Shielded: a cancelled request must not leave a build running unowned.
            await asyncio.shield(asyncio.to_thread(self._store.optimize))
            self.builds += 1
            log.info("indexed %d memories in %.1f s", waiting, time.perf_counter() - started)
