"""A test-only writer of C2SP tiled logs (https://c2sp.org/tlog-tiles).

Written apart from anima_core's Merkle code on purpose: tiles come from pairing
hashes level by level, roots from the "promote the odd node" form of RFC 6962's
MTH, paths from the spec's text. Reader and verifier are then checked against
an independent construction, not against themselves.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.note import sign_note, verifier_key

WIDTH = 256


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def index_path(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def hash_tile_path(level: int, n: int, width: int = WIDTH) -> str:
    suffix = "" if width == WIDTH else f".p/{width}"
    return f"tile/{level}/{index_path(n)}{suffix}"


def bundle_path(n: int, width: int = WIDTH) -> str:
    suffix = "" if width == WIDTH else f".p/{width}"
    return f"tile/entries/{index_path(n)}{suffix}"


def bundle_bytes(entries: Iterable[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def sample_entry(i: int, size: int = 40) -> bytes:
    """Distinct, deterministic entry bytes."""
    seed = f"entry {i};".encode()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass
class TiledLog:
    """A log written to `root`; `levels[k]` holds the complete nodes of tree level k."""

    root: Path
    origin: str
    key: Ed25519PrivateKey
    size: int
    levels: list[bytes] = field(repr=False)

    @property
    def vkey(self) -> str:
        public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return verifier_key(self.origin, public)

    def node(self, level: int, index: int) -> bytes:
        """In-memory merkle.HashReader over the same tree."""
        return self.levels[level][index * 32 : (index + 1) * 32]

    def root_hash(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size == 0:
            return _sha256(b"")
        nodes = [self.node(0, i) for i in range(size)]
        while len(nodes) > 1:
            paired = [
                _sha256(b"\x01" + nodes[i] + nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)
            ]
            nodes = paired + nodes[-1:] if len(nodes) % 2 else paired
        return nodes[0]

    def checkpoint(
        self,
        size: int | None = None,
        *,
        root: bytes | None = None,
        key: Ed25519PrivateKey | None = None,
        origin: str | None = None,
    ) -> bytes:
        """A signed checkpoint for `size` (default: the whole log)."""
        size = self.size if size is None else size
        root = self.root_hash(size) if root is None else root
        origin = origin or self.origin
        text = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        return sign_note(text, name=origin, private_key=key or self.key).to_bytes()

    def write_checkpoint(
        self,
        size: int | None = None,
        *,
        root: bytes | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        (self.root / "checkpoint").write_bytes(self.checkpoint(size, root=root, key=key))

    def path(self, relative: str) -> Path:
        return self.root / relative


def write_tiled_log(
    root: Path,
    size: int,
    *,
    entry: Callable[[int], bytes] = sample_entry,
    origin: str = "example.com/test-log",
    key: Ed25519PrivateKey | None = None,
    partial_sizes: Iterable[int] = (),
    keep_partials: bool = True,
) -> TiledLog:
    """Write `size` entries, every hash tile and a checkpoint for `size`.

    `partial_sizes`: also write the partial tiles and bundles the log had when
    it was that size (as a log that published checkpoints there would). With
    keep_partials=False, no partial tile or bundle is written at all, as in a
    log that deleted them (only meaningful where full ones exist).
    """
    root.mkdir(parents=True, exist_ok=True)
    leaves = bytearray()
    for n in range(-(-size // WIDTH)):
        entries = [entry(i) for i in range(n * WIDTH, min(size, (n + 1) * WIDTH))]
        leaves += b"".join(_sha256(b"\x00" + e) for e in entries)
        if len(entries) == WIDTH:
            _write(root, bundle_path(n), bundle_bytes(entries))
    levels = [bytes(leaves)]
    while len(levels[-1]) >= 64:
        below = levels[-1]
        levels.append(
            b"".join(_sha256(b"\x01" + below[i : i + 64]) for i in range(0, len(below) - 63, 64))
        )
    key = key or Ed25519PrivateKey.generate()
    log = TiledLog(root=root, origin=origin, key=key, size=size, levels=levels)
    for at in {size, *partial_sizes}:
        _write_tiles(log, at, entry, fulls=at == size, partials=keep_partials or at != size)
    log.write_checkpoint()
    return log


def _write_tiles(
    log: TiledLog, size: int, entry: Callable[[int], bytes], *, fulls: bool, partials: bool
) -> None:
    """The hash tiles a log of `size` has (full ones, partial ones or both), and its
    partial entry bundle."""
    level = 0
    while nodes := size >> (8 * level):
        hashes = log.levels[8 * level]
        for n in range(-(-nodes // WIDTH)):
            width = min(WIDTH, nodes - n * WIDTH)
            if fulls if width == WIDTH else partials:
                data = hashes[n * WIDTH * 32 : (n * WIDTH + width) * 32]
                _write(log.root, hash_tile_path(level, n, width), data)
            if level == 0 and width < WIDTH and partials:
                entries = [entry(i) for i in range(n * WIDTH, n * WIDTH + width)]
                _write(log.root, bundle_path(n, width), bundle_bytes(entries))
        level += 1


def _write(root: Path, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
