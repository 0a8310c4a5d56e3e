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

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from anima_core.tlog.merkle import HASH_SIZE
from anima_core.tlog.tiles import TILE_WIDTH, encode_tile_index, tile_width
from anima_runtime.log.tiles_store import ENTRIES_LEVEL, TileStore, bundle_prefix, partial_path

_TILE_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]+))?")


@dataclass(frozen=True, slots=True)
class TileRef:
    """A parsed tile path; level ENTRIES_LEVEL (-1) is an entry bundle."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        return partial_path(self.level, self.index, self.width)


def parse_tile_path(path: str) -> TileRef | None:
    """The tile a canonical tlog-tiles path names, or None for anything else."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        return None
    level_text, index_text, width_text = match.groups()
    level = ENTRIES_LEVEL if level_text == "entries" else int(level_text)
    index = int(index_text.replace("x", "").replace("/", ""))
    width = TILE_WIDTH if width_text is None else int(width_text)
    if encode_tile_index(index) != index_text or not 0 < width <= TILE_WIDTH:
        return None
    if width_text is not None and (width == TILE_WIDTH or width_text != str(width)):
        return None
    if level >= 0 and level * 8 >= 64:
        return None
    return TileRef(level=level, index=index, width=width)


class FullTileCache:
    """Thread-safe LRU of full tiles and bundles by path (they are immutable)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> bytes | None:
        with self._lock:
            data = self._items.get(path)
            if data is not None:
                self._items.move_to_end(path)
            return data

    def put(self, path: str, data: bytes) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            self._items[path] = data
            self._items.move_to_end(path)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class StoreTileSource:
    """TileSource over a TileStore for the tree of `size` (at most the published size)."""

    def __init__(self, store: TileStore, *, size: int, cache: FullTileCache | None = None) -> None:
        self._store = store
        self._size = size
        self._cache = cache or FullTileCache(0)

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
        if ref.width == TILE_WIDTH:
            return self._full(ref.path)
        data = self._store.read(ref.path)
        if data is not None:
            return data
        # No file of its own: cut it from the full tile, or from a wider partial one.
        wider = self._full(partial_path(ref.level, ref.index, TILE_WIDTH))
        for width in self._store.partial_widths(ref.level, ref.index):
            if wider is not None:
                break
            if width > ref.width:
                wider = self._store.read(partial_path(ref.level, ref.index, width))
        if wider is None:
            return None
        if ref.level == ENTRIES_LEVEL:
            return bundle_prefix(wider, ref.width)
        return wider[: ref.width * HASH_SIZE]

    def _full(self, path: str) -> bytes | None:
        data = self._cache.get(path)
        if data is None:
            data = self._store.read(path)
            if data is not None:
                self._cache.put(path, data)
        return data
