"""One agent's log on disk in the C2SP tlog-tiles layout, written crash-safely.

    <dir>/checkpoint                      the signed note of the published tree
    <dir>/tile/<L>/<N>[.p/<W>]            hash tiles
    <dir>/tile/entries/<N>[.p/<W>]        entry bundles
    <dir>/.tmp/                           temp files (emptied on open)
    <dir>/lock                            flock of the one writing process

The rightmost, partial tile of every level (and the partial entry bundle) is
kept in memory, so appending a batch costs the new hashes plus one write per
touched tile. An append computes everything in memory first and checks that
the recomputed root is the one the signer signed; then it writes tiles (full
tiles once, partial ones under a new `.p/<W>` name, each by temp file, fsync
and rename), fsyncs the directories, runs the caller's `before_publish`
(the entry index and payloads), and only then replaces `checkpoint`. So the
stored checkpoint never names data that is not durable, and an entry whose
checkpoint was returned is never lost.

Every partial tile written for a published checkpoint is kept until its
full tile is durable (C2SP tlog-tiles: a log serves the partial tiles of every
tree size it produced a checkpoint for, and may delete them only once the full
tile exists), so `<dir>` can be published or copied as it is and a client
holding any checkpoint the log returned finds its tiles. The `.p/` folder of a
tile goes after the checkpoint that first covers its full tile. Debris from a
crash (temp files, tiles beyond the checkpoint) is ignored on open and
overwritten or removed later.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anima_core.files import LockHeld, lock_exclusive
from anima_runtime.log.durable import FILE_MODE, DurableWriter, fsync_dir, private_dirs
from anima_runtime.log.errors import CheckpointRejected, CorruptLog, InvalidLogRequest, LogLocked
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.merkle import (
    HASH_SIZE,
    CompactRange,
    leaf_hash,
    root_from_frontier,
    root_from_leaf_hashes,
)
from anima_verify.tlog.note import Verifier
from anima_verify.tlog.tiles import (
    CHECKPOINT_PATH,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    encode_tile_index,
    entries_path,
    tile_path,
)

logger = logging.getLogger(__name__)

LOCK_FILE = "lock"
ENTRIES_LEVEL = -1  # the entry bundles, in places where a level is expected


@dataclass(frozen=True, slots=True)
class PublishedCheckpoint:
    """The checkpoint on disk: the signed note and its parsed body."""

    note: bytes
    checkpoint: Checkpoint

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def partial_path(level: int, index: int, width: int) -> str:
    return entries_path(index, width) if level == ENTRIES_LEVEL else tile_path(level, index, width)


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


class _RightEdge:
    """The rightmost tile of each level and the partial entry bundle; a value object
    copied before an append so that a refused batch leaves the store unchanged."""

    __slots__ = ("bundle", "levels", "size")

    def __init__(self, size: int, levels: list[list[bytes]], bundle: bytearray) -> None:
        self.size = size
        self.levels = levels
        self.bundle = bundle

    def copy(self) -> _RightEdge:
        return _RightEdge(self.size, [list(h) for h in self.levels], bytearray(self.bundle))

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


class TileStore:
    """A tiled log in one directory. Open with `TileStore.open`; one writer per
    directory (an exclusive lock is held until `close`)."""

    def __init__(
        self,
        *,
        directory: Path,
        verifier: Verifier,
        origin: str,
        edge: _RightEdge,
        published: PublishedCheckpoint | None,
        lock_fd: int,
    ) -> None:
        self._dir = directory
        self._verifier = verifier
        self._origin = origin
        self._edge = edge
        self._published = published
        self._lock_fd = lock_fd
        self._writer = DurableWriter(directory)

    # ------------------------------------------------------------ open

    @classmethod
    def open(cls, directory: Path, *, verifier: Verifier, origin: str | None = None) -> TileStore:
        """Open (or create) the log in `directory` and resume from its checkpoint.

        The checkpoint must verify under `verifier` and name `origin` (default:
        the verifier's key name, which is Anima's log origin); its right edge
        is rebuilt from the partial tiles and must give the checkpoint's root.
        """
        origin = verifier.name if origin is None else origin
        private_dirs(directory)
        lock_fd = _lock(directory)
        try:
            # Only under the lock: `.tmp` may hold a live writer's staged files.
            DurableWriter.prepare(directory)
            published = _read_checkpoint(directory, verifier, origin)
            size = 0 if published is None else published.size
            edge = _load_edge(directory, size)
            if published is not None and edge.root() != published.root_hash:
                raise CorruptLog(
                    f"{directory}: the tiles give root {_b64(edge.root())} for size {size}, "
                    f"but the checkpoint says {_b64(published.root_hash)}"
                )
            store = cls(
                directory=directory,
                verifier=verifier,
                origin=origin,
                edge=edge,
                published=published,
                lock_fd=lock_fd,
            )
            store._remove_stale_partials(size)
        except BaseException:
            os.close(lock_fd)
            raise
        return store

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------ state

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def published(self) -> PublishedCheckpoint | None:
        """The checkpoint on disk (None before the first append)."""
        return self._published

    @property
    def size(self) -> int:
        """Entries covered by the published checkpoint: what the host has durably stored."""
        return self._edge.size

    # ------------------------------------------------------------ append

    def append(
        self,
        entries: Sequence[bytes],
        note: bytes,
        *,
        before_publish: Callable[[], None] | None = None,
    ) -> PublishedCheckpoint:
        """Store `entries` (the log's next ones) and publish `note`, their checkpoint.

        Refuses (CheckpointRejected, nothing written) a note that does not
        verify, names another origin, or whose size or root differ from the
        host's tree with these entries. `before_publish` runs after the tiles
        are durable and before the checkpoint is replaced; if it raises,
        nothing is published.
        """
        if self._lock_fd < 0:
            raise InvalidLogRequest("the tile store is closed")
        checkpoint = self._verify_note(note)
        edge = self._edge.copy()
        tiles: dict[str, bytes] = {}
        try:
            for entry in entries:
                edge.append(entry, tiles)
        except ValueError as exc:  # an entry too large for a bundle's 16-bit length
            raise CheckpointRejected(f"the signer's entries do not fit a tiled log: {exc}") from exc
        if checkpoint.size != edge.size:
            raise CheckpointRejected(
                f"the signer's checkpoint is for size {checkpoint.size}, but the host has "
                f"{self._edge.size} entries plus {len(entries)} new ones"
            )
        root = edge.root()
        if root != checkpoint.root_hash:
            raise CheckpointRejected(
                f"the signer's checkpoint for size {checkpoint.size} has root "
                f"{_b64(checkpoint.root_hash)}, but the host's tiles give {_b64(root)}; "
                "refusing to publish"
            )
        published = PublishedCheckpoint(note=note, checkpoint=checkpoint)
        if self._published is not None and self._published.note == note:
            return self._published
        completed = list(tiles)  # full tiles and bundles: their partials can go
        if entries:
            tiles.update(edge.partial_tiles())
            self._writer.write_all(tiles)
            self._writer.sync()
        if before_publish is not None:
            before_publish()
        self._writer.write(CHECKPOINT_PATH, note)
        self._writer.sync()
        self._edge, self._published = edge, published
        for path in completed:
            _remove(self._dir / f"{path}.p")
        return published

    def _verify_note(self, note: bytes) -> Checkpoint:
        try:
            checkpoint = open_checkpoint(note, [self._verifier]).checkpoint
        except LogVerificationError as exc:
            raise CheckpointRejected(f"the signer's checkpoint does not verify: {exc}") from exc
        if checkpoint.origin != self._origin:
            raise CheckpointRejected(
                f"the signer's checkpoint names origin {checkpoint.origin!r}, "
                f"not this log's {self._origin!r}"
            )
        if checkpoint.size < self._edge.size:
            raise CheckpointRejected(
                f"the signer's checkpoint is for size {checkpoint.size}, smaller than the "
                f"{self._edge.size} entries the host has published"
            )
        return checkpoint

    # ------------------------------------------------------------ read

    def read(self, relative: str) -> bytes | None:
        """The bytes of a stored file (a tile path), or None when absent."""
        try:
            return (self._dir / relative).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def partial_widths(self, level: int, index: int) -> list[int]:
        """Widths of the partial tiles stored for tile (level, index), ascending."""
        folder = self._dir / f"{partial_path(level, index, TILE_WIDTH)}.p"
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(int(n) for n in names if n.isdigit())

    def read_tile(
        self,
        level: int,
        index: int,
        width: int,
        *,
        read_full: Callable[[str], bytes | None] | None = None,
    ) -> bytes | None:
        """Tile (level, index) of `width` (ENTRIES_LEVEL: the entry bundle), or None.

        A partial tile without a file of its own (deleted once its full tile is
        durable, or a width no checkpoint had) is cut from the full tile or from
        a wider partial one: tiles only grow at the right, so the first `width`
        hashes or entries are the same in every later one. `read_full` reads full
        tiles (a caller's cache); default: from disk.
        """
        read_full = self.read if read_full is None else read_full
        if width == TILE_WIDTH:
            return read_full(partial_path(level, index, TILE_WIDTH))
        data = self.read(partial_path(level, index, width))
        if data is not None:
            return data
        wider = read_full(partial_path(level, index, TILE_WIDTH))
        for other in self.partial_widths(level, index):
            if wider is not None:
                break
            if other > width:
                wider = self.read(partial_path(level, index, other))
        if wider is None:
            return None
        return bundle_prefix(wider, width) if level == ENTRIES_LEVEL else wider[: width * HASH_SIZE]

    def read_entries(self, start: int, end: int, size: int | None = None) -> list[bytes]:
        """Encoded entries [start, end) of the tree of `size` (default: the published one)."""
        size = self.size if size is None else size
        if not 0 <= start <= end <= size:
            raise InvalidLogRequest(f"entries [{start}, {end}) are not within a log of {size}")
        out: list[bytes] = []
        for bundle in range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, size - bundle * TILE_WIDTH)
            data = self.read_tile(ENTRIES_LEVEL, bundle, width)
            if data is None:
                raise CorruptLog(f"entry bundle {entries_path(bundle, width)} is missing")
            entries = decode_entry_bundle(data, width)
            base = bundle * TILE_WIDTH
            out.extend(entries[max(start, base) - base : min(end, base + width) - base])
        return out

    # ------------------------------------------------------------ cleanup

    def _remove_stale_partials(self, size: int) -> None:
        """Delete `.p/` debris next to each level's right edge: partial tiles of
        tiles now full (left by a crash after their checkpoint), and tiles or
        widths beyond the checkpoint. Widths up to the edge's are kept: earlier
        checkpoints of this log name them."""
        for level in [ENTRIES_LEVEL, *range(len(self._edge.levels) + 1)]:
            shift = 0 if level == ENTRIES_LEVEL else TILE_HEIGHT * level
            edge, width = divmod(size >> shift, TILE_WIDTH)
            folders = {
                self._dir / Path(partial_path(level, i, 1)).parent.parent
                for i in (edge, max(0, edge - 1))
            }
            for folder in folders:
                for child in _partial_dirs(folder):
                    tile_index = _index_of(child, self._dir, level)
                    if tile_index is None:
                        continue
                    if tile_index != edge or width == 0:
                        _remove(child)
                        continue
                    for width_dir in child.iterdir():
                        name = width_dir.name
                        if not (name.isdigit() and 0 < int(name) <= width):
                            _remove(width_dir)


# ---------------------------------------------------------------- helpers


def _lock(directory: Path) -> int:
    try:
        return lock_exclusive(directory / LOCK_FILE, mode=FILE_MODE)
    except LockHeld as held:
        raise LogLocked(
            f"{directory} is open for writing in another process{held.holder}"
        ) from None


def _read_checkpoint(
    directory: Path, verifier: Verifier, origin: str
) -> PublishedCheckpoint | None:
    try:
        note = (directory / CHECKPOINT_PATH).read_bytes()
    except FileNotFoundError:
        return None
    try:
        checkpoint = open_checkpoint(note, [verifier]).checkpoint
    except LogVerificationError as exc:
        raise CorruptLog(f"{directory}/{CHECKPOINT_PATH} does not verify: {exc}") from exc
    if checkpoint.origin != origin:
        raise CorruptLog(
            f"{directory}/{CHECKPOINT_PATH} names origin {checkpoint.origin!r}, not {origin!r}"
        )
    return PublishedCheckpoint(note=note, checkpoint=checkpoint)


def _read_required(directory: Path, relative: str, size: int) -> bytes:
    try:
        return (directory / relative).read_bytes()
    except FileNotFoundError:
        raise CorruptLog(
            f"{directory}: the checkpoint for size {size} needs {relative}, which is missing"
        ) from None


def _load_edge(directory: Path, size: int) -> _RightEdge:
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
    return _RightEdge(size, levels, bundle)


def bundle_prefix(data: bytes, count: int) -> bytes:
    """The first `count` entries of an encoded bundle, still encoded."""
    offset = 0
    for _ in range(count):
        if offset + 2 > len(data):
            raise CorruptLog("entry bundle is shorter than the entries it should hold")
        offset += 2 + int.from_bytes(data[offset : offset + 2], "big")
    if offset > len(data):
        raise CorruptLog("entry bundle is shorter than the entries it should hold")
    return data[:offset]


def _partial_dirs(folder: Path) -> list[Path]:
    try:
        return [folder / n for n in os.listdir(folder) if n.endswith(".p")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _index_of(child: Path, root: Path, level: int) -> int | None:
    """The tile index a `<N>.p` directory stands for, or None if the name is foreign."""
    ref = parse_tile_path(str(child.relative_to(root))[: -len(".p")])
    return ref.index if ref is not None and ref.level == level and ref.width == TILE_WIDTH else None


def _remove(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove stale tile %s: %s", path, exc)


__all__ = [
    "PublishedCheckpoint",
    "TileRef",
    "TileStore",
    "bundle_prefix",
    "fsync_dir",
    "parse_tile_path",
    "partial_path",
]
