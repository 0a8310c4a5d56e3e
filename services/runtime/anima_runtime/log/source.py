"""The stored log as a tlog-tiles TileSource, bounded by a tree size.

Serves exactly the tiles a tree of `size` has, so debris beyond the
checkpoint is never shown. A partial tile without a file of its own (the
store deletes partials once the full tile is durable; a width no checkpoint
had was never written) is cut from the full tile or from a wider partial one:
tiles only ever grow at the right, so the first W hashes or entries are the
same in every later tile. Full tiles never change and are kept in a small LRU
cache.
"""

from __future__ import annotations

from anima_runtime.log.tile_paths import TileRef, parse_tile_path
from anima_runtime.log.tiles_store import TileStore
from anima_verify.tlog.reader import LruCache
from anima_verify.tlog.tiles import tile_width

# Full tiles and bundles by path: they never change once written.
FullTileCache = LruCache[str, bytes]


class StoreTileSource:
    """TileSource over a TileStore for the tree of `size` (at most the published size)."""

    def __init__(self, store: TileStore, *, size: int, cache: FullTileCache | None = None) -> None:
        self._store = store
        self._size = size
        self._cache = FullTileCache(0) if cache is None else cache

    @property
    def size(self) -> int:
        return self._size

    def read(self, path: str) -> bytes | None:
        ref = parse_tile_path(path)
        return None if ref is None else self.read_tile(ref)

    def read_tile(self, ref: TileRef) -> bytes | None:
        available = tile_width(max(ref.level, 0), ref.index, self._size)
        if ref.width > available:
            return None  # beyond this tree
        return self._store.read_tile(ref.level, ref.index, ref.width, read_full=self._full)

    def _full(self, path: str) -> bytes | None:
        data = self._cache.get(path)
        if data is None:
            data = self._store.read(path)
            if data is not None:
                self._cache.put(path, data)
        return data
