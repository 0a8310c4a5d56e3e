"""Reading C2SP tiled logs: where tiles come from, and the Merkle hashes they hold.

A TileSource hands out the bytes stored at a tlog-tiles path (a directory, an
HTTP server); nothing here trusts them. TileHashReader answers
merkle.HashReader for one tree size from the hash tiles, so proofs can be built
over any tiled log; a proof built from bad tiles fails to verify against the
signed root, which is where trust comes from.

The rightmost tile of a level is partial (`.p/<width>`) for a given size.
Logs may delete a partial tile once the full one exists, so readers fall back
to the full tile and take its first `width` hashes or entries.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Generic, NamedTuple, Protocol, TypeVar

from anima_verify.errors import AnimaError, ErrorKind
from anima_verify.tlog.errors import MalformedTile, MissingTile
from anima_verify.tlog.merkle import HASH_SIZE
from anima_verify.tlog.tiles import (
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_entry_bundle,
    entries_path,
    tile_levels,
    tile_path,
    tile_width,
)

if TYPE_CHECKING:
    import httpx

# The largest thing a tiled log stores: a full bundle of maximum-size entries.
MAX_RESPONSE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


class LogSourceError(AnimaError):
    """A tile source that cannot be read (file system, network, HTTP status):
    an I/O failure, not evidence against the log."""

    kind = ErrorKind.UNAVAILABLE
    reason = "LOG_SOURCE_UNREADABLE"


class TileSource(Protocol):
    """Bytes stored at a tlog-tiles path ("checkpoint", "tile/0/x001/234.p/5",
    "tile/entries/000"), or None when nothing is stored there."""

    def read(self, path: str) -> bytes | None: ...


def check_tile_source_path(path: str) -> list[str]:
    """The segments of a relative tlog-tiles path; ValueError for anything that
    could leave the log's root ('..', absolute paths, hidden or odd names)."""
    segments = path.split("/")
    if len(path) > 256 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(f"{path!r} is not a tiled-log path")
    return segments


class DirectorySource(TileSource):
    """A tiled log in a local directory (the embedded default storage)."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def read(self, path: str) -> bytes | None:
        target = self._root.joinpath(*check_tile_source_path(path))
        try:
            return target.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise LogSourceError(f"cannot read {target}: {exc.strerror}") from exc

    def __repr__(self) -> str:
        return f"DirectorySource({str(self._root)!r})"


def _httpx() -> ModuleType:
    """httpx, which only HttpSource needs: an optional extra of anima-verify."""
    try:
        import httpx  # here, not at the top: verifying files needs no HTTP client
    except ImportError as exc:
        raise ImportError(
            "reading a log over HTTP needs httpx: install anima-verify[http] "
            "(pip install 'anima-verify[http]'), or verify a directory of tiles"
        ) from exc
    return httpx


class HttpSource(TileSource):
    """A tiled log served over HTTP(S) under `base_url` (404 means absent).

    Uses `client` when given (its owner closes it and sets its timeouts);
    otherwise owns one with `timeout` seconds, closed by close() or by leaving a
    `with` block. Safe to share between threads. A URL httpx cannot parse is a
    LogSourceError here (the caller's input, not evidence against the log).
    Needs the extra anima-verify[http] (httpx); without it, ImportError says so.
    """

    def __init__(
        self, base_url: str, client: httpx.Client | None = None, timeout: float = 10.0
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"log URL {base_url!r} must start with http:// or https://")
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        self._httpx = httpx = _httpx()
        try:
            httpx.URL(self._base)
        except httpx.InvalidURL as exc:  # not an HTTPError: it would escape read()
            raise LogSourceError(f"log URL {base_url!r} is not a valid URL: {exc}") from None
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)

    @property
    def base_url(self) -> str:
        return self._base

    def read(self, path: str) -> bytes | None:
        check_tile_source_path(path)
        url = self._base + path
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise LogSourceError(f"GET {url} answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise LogSourceError(
                            f"GET {url} answered more than {MAX_RESPONSE_BYTES} bytes, "
                            "larger than any tile or entry bundle"
                        )
                return bytes(body)
        except (self._httpx.HTTPError, self._httpx.InvalidURL) as exc:
            raise LogSourceError(f"GET {url} failed: {exc or type(exc).__name__}") from exc

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpSource({self._base!r})"


class _Stored(NamedTuple):
    path: str  # the path read
    data: bytes
    width: int  # what that path holds: the width asked for, or 256 after a fallback


def _read_sized(path: Callable[[int], str], width: int, source: TileSource, what: str) -> _Stored:
    """A tile or bundle of `width` from the partial path, or, when that is
    absent (deleted once the full one existed), from the full path."""
    if width < TILE_WIDTH:
        data = source.read(path(width))
        if data is not None:
            return _Stored(path(width), data, width)
    data = source.read(path(TILE_WIDTH))
    if data is not None:
        return _Stored(path(TILE_WIDTH), data, TILE_WIDTH)
    also = f" (and so is {path(TILE_WIDTH)})" if width < TILE_WIDTH else ""
    raise MissingTile(f"{what} {path(width)} is missing{also}")


def read_hash_tile(source: TileSource, level: int, index: int, width: int) -> tuple[str, bytes]:
    """(path read, the tile's first `width` hashes as bytes), falling back from a
    missing partial tile to the full one. MissingTile / MalformedTile name the path."""
    tile = _read_sized(partial(tile_path, level, index), width, source, "hash tile")
    if len(tile.data) != tile.width * HASH_SIZE:
        raise MalformedTile(
            f"hash tile {tile.path} is {len(tile.data)} bytes, want {tile.width * HASH_SIZE}"
        )
    return tile.path, tile.data[: width * HASH_SIZE]


def read_entry_bundle(source: TileSource, index: int, size: int) -> list[bytes]:
    """The entries of bundle `index` in a log of `size` entries, strictly decoded
    (no missing, extra or trailing bytes); a missing partial bundle falls back to
    the full one."""
    width = tile_width(0, index, size)
    if width == 0:
        raise ValueError(f"entry bundle {index} is beyond a log of size {size}")
    bundle = _read_sized(partial(entries_path, index), width, source, "entry bundle")
    try:
        entries = decode_entry_bundle(bundle.data, bundle.width)
    except MalformedTile as exc:
        raise MalformedTile(f"entry bundle {bundle.path}: {exc.message}") from exc
    return entries[:width]


K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A thread-safe LRU map of at most `capacity` items (0: keeps nothing).
    Tiles are immutable once full, so caching them needs no invalidation."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


# (tile level, tile index, width) -> the tile's hashes and the levels above them.
TileLevelsCache = LruCache[tuple[int, int, int], tuple[bytes, ...]]


class TileHashReader:
    """merkle.HashReader over the hash tiles of a tiled log, for one tree size.

    node(level, index) is recomputed from the tile at level // 8, hashing up
    level % 8 levels. Decoded tiles, with their inner levels, are kept in an LRU
    cache of `cache_tiles` tiles, so proofs on a large log cost microseconds once
    warm. Readers of one log at different sizes may share a `cache`: it is keyed
    by tile and width, and tiles only grow at the right, so an entry is the same
    for every size. Safe to call from several threads (a tile may be fetched
    twice in a race).
    """

    def __init__(
        self,
        source: TileSource,
        size: int,
        cache_tiles: int = 4096,
        *,
        cache: TileLevelsCache | None = None,
    ) -> None:
        if size < 0:
            raise ValueError("tree size must be non-negative")
        if cache_tiles < 1:
            raise ValueError("the tile cache holds at least one tile")
        self._source = source
        self._size = size
        self._cache = TileLevelsCache(cache_tiles) if cache is None else cache

    @property
    def size(self) -> int:
        return self._size

    def node(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise ValueError(
                f"node {index} at level {level} is not a complete subtree "
                f"of a tree of size {self._size}"
            )
        tile_level, height = divmod(level, TILE_HEIGHT)
        tile_index = (index << height) >> TILE_HEIGHT
        levels = self._tile(tile_level, tile_index)
        offset = (index - (tile_index << (TILE_HEIGHT - height))) * HASH_SIZE
        return levels[height][offset : offset + HASH_SIZE]

    def _tile(self, level: int, index: int) -> tuple[bytes, ...]:
        width = tile_width(level, index, self._size)
        key = (level, index, width)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        _, hashes = read_hash_tile(self._source, level, index, width)
        levels = tile_levels(hashes)
        self._cache.put(key, levels)
        return levels
