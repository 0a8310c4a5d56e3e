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

Partial tiles stay as long as C2SP tlog-tiles asks (partial_tiles.py), so `<dir>`
can be published or copied as it is. Debris from a crash (temp files, tiles beyond
the checkpoint) is ignored on open and overwritten or removed later.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anima_core.files import LockHeld, lock_exclusive
from anima_runtime.log.durable import FILE_MODE, DurableWriter, private_dirs
from anima_runtime.log.errors import CheckpointRejected, CorruptLog, InvalidLogRequest, LogLocked
from anima_runtime.log.partial_tiles import remove_partials, remove_stale_partials
from anima_runtime.log.right_edge import RightEdge, load_edge
from anima_runtime.log.tile_paths import ENTRIES_LEVEL, parse_tile_path, partial_path
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.merkle import HASH_SIZE
from anima_verify.tlog.note import Verifier
from anima_verify.tlog.tiles import (
    CHECKPOINT_PATH,
    TILE_WIDTH,
    decode_entry_bundle,
    entries_path,
)

LOCK_FILE = "lock"


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


class TileStore:
    """A tiled log in one directory. Open with `TileStore.open`; one writer per
    directory (an exclusive lock is held until `close`)."""

    def __init__(
        self,
        *,
        directory: Path,
        verifier: Verifier,
        origin: str,
        edge: RightEdge,
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
            edge = load_edge(directory, size)
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
            remove_stale_partials(directory, size, levels=len(edge.levels))
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
        remove_partials(self._dir, completed)
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


# parse_tile_path: log/http.py still imports it from here (its home is tile_paths).
__all__ = ["LOCK_FILE", "PublishedCheckpoint", "TileStore", "bundle_prefix", "parse_tile_path"]
