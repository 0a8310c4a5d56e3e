"""Offline verification of C2SP tiled logs and audits of their checkpoints.

verify_tiled_log is the full audit a third party runs: it trusts nothing but
the verifier keys, recomputes every leaf hash from the entries, every hash
tile the checkpoint's size implies and the root, and names the first thing
that does not match. Entries are opaque bytes, so any tlog-tiles log works.

audit_checkpoints checks that a newer signed checkpoint extends an older one:
it has a direction, since a log served smaller than it was seen before has been
rolled back or truncated (Rollback, both notes as evidence), however consistent
the two may be. The same size with two roots is equivocation (both notes are
the evidence); a larger size needs the log's tiles for a consistency proof,
except from a size-0 checkpoint: the empty tree is a prefix of every tree, so
once its root is the empty tree's root it is extended by any later checkpoint
of the same log, with no proof (RFC 9162 defines none from size 0) and no
tiles. A monitor starts from the log's first checkpoint, often size 0, and must
be able to accept its successor.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

from anima_verify.tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import (
    Equivocation,
    InconsistentLog,
    MissingTile,
    Rollback,
    RootMismatch,
    TileMismatch,
)
from anima_verify.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    leaf_hash,
    node_hash,
    root_from_frontier,
    tree_root,
    verify_consistency,
)
from anima_verify.tlog.note import Verifier
from anima_verify.tlog.reader import (
    HttpSource,
    TileHashReader,
    TileSource,
    read_entry_bundle,
    read_hash_tile,
)
from anima_verify.tlog.tiles import (
    CHECKPOINT_PATH,
    TILE_HEIGHT,
    TILE_WIDTH,
    tile_levels,
    tile_width,
)

_FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
_HTTP_READ_AHEAD = 8


@dataclass(frozen=True, slots=True)
class LogReport:
    """What a successful verify_tiled_log established."""

    origin: str
    size: int
    root_hash: bytes
    checkpoint_note: str  # the signed checkpoint, as read
    entries_checked: int
    tiles_checked: int  # hash tiles recomputed and compared, all levels
    bundles_checked: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    """A checkpoint found to extend an older one (or to equal it)."""

    origin: str
    old: Checkpoint
    new: Checkpoint
    proof: tuple[bytes, ...]  # the proof checked: empty for equal sizes or from size 0


class LogSourceNeeded(ValueError):
    """Checkpoints of different sizes, audited without the log's tiles."""


def verify_tiled_log(
    source: TileSource,
    verifiers: Sequence[Verifier],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    read_ahead: int | None = None,
    witnesses: WitnessPolicy,
) -> LogReport:
    """Verify a whole tiled log against its signed checkpoint; raises the first
    LogVerificationError found (LogSourceError when the source cannot be read).

    `on_progress(entries_checked, size)` is called after each entry bundle.
    `read_ahead` bundles (and their level-0 tiles) are fetched in background
    threads to hide network latency; 0 reads everything in this thread. The
    default is 8 for an HttpSource and 0 otherwise (a local disk gains nothing).
    `witnesses`: the checkpoint must carry their quorum's cosignatures
    (WitnessQuorumNotMet); required: WitnessPolicy.insecure_unwitnessed() names
    the choice to accept an unwitnessed log.
    """
    if read_ahead is None:
        read_ahead = _HTTP_READ_AHEAD if isinstance(source, HttpSource) else 0
    note = source.read(CHECKPOINT_PATH)
    if note is None:
        raise MissingTile(f"the log has no checkpoint (nothing at {CHECKPOINT_PATH!r})")
    signed = open_checkpoint(note, verifiers, witnesses=witnesses)
    size = signed.checkpoint.size
    tree = _TileChecker(source, size)
    checked = 0
    with closing(_fetch_bundles(source, size, read_ahead)) as bundles:
        for entries, tile in bundles:
            leaves = b"".join([leaf_hash(entry) for entry in entries])
            tree.add_leaves(leaves, tile)
            checked += len(entries)
            if on_progress is not None:
                on_progress(checked, size)
    root = tree.finish()
    if root != signed.checkpoint.root_hash:
        raise RootMismatch(
            f"the entries and tiles give root {root.hex()} at size {size}, "
            f"but the checkpoint says {signed.checkpoint.root_hash.hex()}"
        )
    return LogReport(
        origin=signed.checkpoint.origin,
        size=size,
        root_hash=root,
        checkpoint_note=note.decode(),
        entries_checked=checked,
        tiles_checked=tree.tiles_checked,
        bundles_checked=-(-size // TILE_WIDTH),
    )


_Fetched = tuple[list[bytes], tuple[str, bytes] | None]


def _fetch(source: TileSource, index: int, size: int) -> _Fetched:
    """A bundle and, when full, its level-0 tile (a partial one is read at the end)."""
    entries = read_entry_bundle(source, index, size)
    full = tile_width(0, index, size) == TILE_WIDTH
    return entries, read_hash_tile(source, 0, index, TILE_WIDTH) if full else None


def _fetch_bundles(
    source: TileSource, size: int, read_ahead: int
) -> Generator[_Fetched, None, None]:
    """Entry bundles with their level-0 tiles, in order; errors surface in order too."""
    count = -(-size // TILE_WIDTH)
    if read_ahead <= 0:
        for index in range(count):
            yield _fetch(source, index, size)
        return
    pool = ThreadPoolExecutor(max_workers=read_ahead, thread_name_prefix="tlog-read")
    pending: deque[Future[_Fetched]] = deque()
    try:
        for index in range(count):
            pending.append(pool.submit(_fetch, source, index, size))
            if len(pending) > read_ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _TileChecker:
    """Recomputes the hash tiles of a tree bottom-up as leaves arrive, a bundle
    at a time, and compares each with the stored one as soon as it is complete."""

    def __init__(self, source: TileSource, size: int) -> None:
        self._source = source
        levels = 0
        while size >> (TILE_HEIGHT * levels):
            levels += 1
        # Per tile level: hashes of tree level 8*L since the last full tile, and full tiles done.
        self._pending = [b""] * levels
        self._full_tiles = [0] * levels
        self.tiles_checked = 0

    def add_leaves(self, leaves: bytes, stored: tuple[str, bytes] | None) -> None:
        """The leaf hashes of the next bundle, with its level-0 tile when full."""
        self._add(0, leaves, stored)

    def _add(self, level: int, hashes: bytes, stored: tuple[str, bytes] | None = None) -> None:
        pending = self._pending[level] + hashes
        if len(pending) < _FULL_TILE_BYTES:
            self._pending[level] = pending
            return
        index = self._full_tiles[level]
        if stored is None:
            stored = read_hash_tile(self._source, level, index, TILE_WIDTH)
        self._compare(level, index, pending, stored)
        self._pending[level] = b""
        self._full_tiles[level] += 1
        top = tile_levels(pending)[-1]
        self._add(level + 1, node_hash(top[:HASH_SIZE], top[HASH_SIZE:]))

    def finish(self) -> bytes:
        """Check the partial tile of every level, bottom up, and return the root."""
        for level, hashes in enumerate(self._pending):
            if width := len(hashes) // HASH_SIZE:
                index = self._full_tiles[level]
                stored = read_hash_tile(self._source, level, index, width)
                self._compare(level, index, hashes, stored)
        # The frontier nodes between tree levels 8L and 8L+7 all lie in level L's partial tile.
        frontier: list[bytes] = []
        for hashes in reversed(self._pending):
            width = len(hashes) // HASH_SIZE
            start = 0
            for height in reversed(range(TILE_HEIGHT)):
                if width >> height & 1:
                    run = hashes[start * HASH_SIZE : (start + (1 << height)) * HASH_SIZE]
                    frontier.append(tile_levels(run)[height])
                    start += 1 << height
        return root_from_frontier(frontier)

    def _compare(self, level: int, index: int, computed: bytes, stored: tuple[str, bytes]) -> None:
        path, data = stored
        self.tiles_checked += 1
        if data == computed:
            return
        at = next(
            i
            for i in range(0, len(computed), HASH_SIZE)
            if data[i : i + HASH_SIZE] != computed[i : i + HASH_SIZE]
        )
        position = at // HASH_SIZE
        node = index * TILE_WIDTH + position
        span = 1 << (TILE_HEIGHT * level)
        what = (
            f"entry {node} hashes to"
            if level == 0
            else f"entries [{node * span}, {(node + 1) * span}) give"
        )
        raise TileMismatch(
            f"hash tile {path} holds {data[at : at + HASH_SIZE].hex()} at position {position}, "
            f"but {what} {computed[at : at + HASH_SIZE].hex()}",
            path=path,
            index=position,
        )


# ---------------------------------------------------------------- checkpoint audits


def audit_checkpoints(
    old_note: bytes,
    new_note: bytes,
    verifiers: Sequence[Verifier],
    *,
    source: TileSource | None = None,
    witnesses: WitnessPolicy,
) -> AuditReport:
    """Check that the signed checkpoint `new_note` extends `old_note`, one seen before:
    same log, size at least as large, and a consistency proof from old to new.

    Raises Rollback (with both notes) when new is smaller, InconsistentLog for
    different origins or a fork, Equivocation (with both notes) for one size with
    two roots, LogSourceNeeded for a larger size without `source`, and the
    note/checkpoint errors for bad signatures. A size-0 old checkpoint (with the
    empty tree's root, else RootMismatch) is extended by any checkpoint of the
    same log: the report's proof is empty and `source` is not read. Both checkpoints
    must carry the quorum's cosignatures of `witnesses` (WitnessQuorumNotMet).
    """
    one = open_checkpoint(old_note, verifiers, witnesses=witnesses)
    two = open_checkpoint(new_note, verifiers, witnesses=witnesses)
    old, new = one.checkpoint, two.checkpoint
    if old.origin != new.origin:
        raise InconsistentLog(
            f"the checkpoints are of different logs: {old.origin!r} and {new.origin!r}"
        )
    for signed in (one, two):
        _check_empty_root(signed)
    if new.size < old.size:
        raise Rollback(
            f"the log {old.origin!r} was seen at size {old.size} "
            f"(root {old.root_hash.hex()}), but the newer checkpoint has size {new.size} "
            f"(root {new.root_hash.hex()}): it was served rolled back or truncated",
            old_note=old_note,
            new_note=new_note,
        )
    if old.size == new.size:
        if old.root_hash != new.root_hash:
            raise Equivocation(
                f"two signed checkpoints of {old.origin!r} at size {old.size} "
                f"with different roots {old.root_hash.hex()} and {new.root_hash.hex()}",
                first_note=old_note,
                second_note=new_note,
            )
        return AuditReport(origin=old.origin, old=old, new=new, proof=())
    if old.size == 0:
        # The empty tree (its root checked above) is a prefix of every tree.
        return AuditReport(origin=old.origin, old=old, new=new, proof=())
    if source is None:
        raise LogSourceNeeded(
            f"checkpoints of sizes {old.size} and {new.size} need the log's tiles "
            "(a log source) to build a consistency proof"
        )
    reader = TileHashReader(source, new.size)
    proof = consistency_proof(reader, old.size, new.size)
    try:
        _verify_proof(old, new, old.root_hash, proof)
    except RootMismatch:
        _explain_failed_proof(reader, old, new, proof)
    return AuditReport(origin=old.origin, old=old, new=new, proof=tuple(proof))


def _check_empty_root(signed: SignedCheckpoint) -> None:
    checkpoint = signed.checkpoint
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise RootMismatch(
            f"checkpoint of size 0 has root {checkpoint.root_hash.hex()}, "
            f"but the empty tree's root is {EMPTY_ROOT.hex()}"
        )


def _verify_proof(old: Checkpoint, new: Checkpoint, root1: bytes, proof: list[bytes]) -> None:
    verify_consistency(
        size1=old.size, size2=new.size, root1=root1, root2=new.root_hash, proof=proof
    )


def _explain_failed_proof(
    reader: TileHashReader, old: Checkpoint, new: Checkpoint, proof: list[bytes]
) -> None:
    """A proof that failed: a fork when the tiles hold the new checkpoint's tree
    (the proof verifies against its root), otherwise a source that is not that log."""
    served_old = tree_root(reader, old.size)
    try:
        _verify_proof(old, new, served_old, proof)
    except RootMismatch as exc:
        raise RootMismatch(
            f"the log source does not hold the tree of the size-{new.size} checkpoint "
            f"(root {new.root_hash.hex()}): {exc.message}"
        ) from exc
    raise InconsistentLog(
        f"fork: the log's tree of size {new.size} (root {new.root_hash.hex()}) holds a tree "
        f"of size {old.size} with root {served_old.hex()}, not the signed "
        f"{old.root_hash.hex()}"
    )
