"""The right edge of a tiled log, kept in memory: the rightmost, partial tile of every
level and the partial entry bundle. Appending an entry needs only these, and they give
the tree's root; a log opened from disk rebuilds them from its partial tiles."""

from __future__ import annotations

from pathlib import Path

from anima_runtime.log.errors import CorruptLog
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.merkle import (
    CompactRange,
    leaf_hash,
    root_from_frontier,
    root_from_leaf_hashes,
)
from anima_verify.tlog.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    entries_path,
    tile_path,
)


class RightEdge:
    """The rightmost tile of each level and the partial entry bundle; a value object
    copied before an append so that a refused batch leaves the store unchanged."""

    __slots__ = ("bundle", "levels", "size")

    def __init__(self, size: int, levels: list[list[bytes]], bundle: bytearray) -> None:
        self.size = size
        self.levels = levels
        self.bundle = bundle

    def copy(self) -> RightEdge:
        return RightEdge(self.size, [list(h) for h in self.levels], bytearray(self.bundle))

    def append(self, entry: bytes, full: dict[str, bytes]) -> None:
        """Add one entry; tiles and bundles it completes go to `full`."""
        self.bundle += encode_entry_bundle((entry,))
        self.size += 1
        size = self.size
        if size % TILE_WIDTH == 0:
            full[entries_path(size // TILE_WIDTH - 1)] = bytes(self.bundle)
            self.bundle.clear()
        node = leaf_hash(entry)
        level = 0
        while True:
            if level == len(self.levels):
                self.levels.append([])
            hashes = self.levels[level]
            hashes.append(node)
            if len(hashes) < TILE_WIDTH:
                return
            full[tile_path(level, (size >> (TILE_HEIGHT * (level + 1))) - 1)] = b"".join(hashes)
            node = root_from_leaf_hashes(hashes)  # the full tile's root, one level up
            hashes.clear()
            level += 1

    def partial_tiles(self) -> dict[str, bytes]:
        """Path -> content of every partial tile (and bundle) this size has."""
        tiles: dict[str, bytes] = {}
        for level, hashes in enumerate(self.levels):
            if hashes:
                index = self.size >> (TILE_HEIGHT * (level + 1))
                tiles[tile_path(level, index, len(hashes))] = b"".join(hashes)
        width = self.size % TILE_WIDTH
        if width:
            tiles[entries_path(self.size // TILE_WIDTH, width)] = bytes(self.bundle)
        return tiles

    def root(self) -> bytes:
        """The tree root, from the right edge alone: each level's partial tile holds
        the frontier nodes for its eight bits of the size."""
        frontier: list[bytes] = []
        for hashes in reversed(self.levels):
            compact = CompactRange()
            compact.extend(hashes)
            frontier.extend(compact.hashes)
        return root_from_frontier(frontier)


def _read_required(directory: Path, relative: str, size: int) -> bytes:
    try:
        return (directory / relative).read_bytes()
    except FileNotFoundError:
        raise CorruptLog(
            f"{directory}: the checkpoint for size {size} needs {relative}, which is missing"
        ) from None


def load_edge(directory: Path, size: int) -> RightEdge:
    """The right edge of the tree of `size`, from the partial tiles stored in `directory`;
    CorruptLog where one the checkpoint needs is missing or malformed."""
    levels: list[list[bytes]] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        width = nodes % TILE_WIDTH
        hashes: list[bytes] = []
        if width:
            path = tile_path(level, nodes // TILE_WIDTH, width)
            try:
                hashes = decode_hash_tile(_read_required(directory, path, size), width)
            except LogVerificationError as exc:
                raise CorruptLog(f"{directory}/{path}: {exc}") from exc
        levels.append(hashes)
        level += 1
    bundle = bytearray()
    width = size % TILE_WIDTH
    if width:
        path = entries_path(size // TILE_WIDTH, width)
        data = _read_required(directory, path, size)
        try:
            decode_entry_bundle(data, width)
        except LogVerificationError as exc:
            raise CorruptLog(f"{directory}/{path}: {exc}") from exc
        bundle = bytearray(data)
    return RightEdge(size, levels, bundle)
