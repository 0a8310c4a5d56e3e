"""C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): paths and encodings.

A tile at level L holds up to 256 consecutive hashes of tree level 8*L; the
entry bundle N holds entries [256*N, 256*N + width) as big-endian uint16
length-prefixed byte strings. The rightmost tile of a level may be partial:
its path ends in `.p/<width>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from anima_verify.tlog.errors import MalformedTile
from anima_verify.tlog.merkle import HASH_SIZE

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_SIZE = 0xFFFF
CHECKPOINT_PATH = "checkpoint"


def encode_tile_index(index: int) -> str:
    """1234067 -> 'x001/x234/067': three-digit groups, all but the last with 'x'."""
    if index < 0:
        raise ValueError("tile index must be non-negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _with_width(path: str, width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width must be 1..{TILE_WIDTH}")
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    if not 0 <= level < 64:
        raise ValueError("tile level must be 0..63")
    return _with_width(f"tile/{level}/{encode_tile_index(index)}", width)


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return _with_width(f"tile/entries/{encode_tile_index(index)}", width)


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes tile (level, index) holds in a tree of `size` (0: absent)."""
    nodes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def encode_hash_tile(hashes: Iterable[bytes]) -> bytes:
    data = b"".join(hashes)
    if len(data) % HASH_SIZE or not 0 < len(data) <= TILE_WIDTH * HASH_SIZE:
        raise ValueError("a hash tile holds 1 to 256 hashes of 32 bytes")
    return data


def decode_hash_tile(data: bytes, width: int) -> list[bytes]:
    if len(data) != width * HASH_SIZE:
        raise MalformedTile(f"hash tile is {len(data)} bytes, want {width * HASH_SIZE}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    parts: list[bytes] = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"a tiled log entry is at most {MAX_ENTRY_SIZE} bytes")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """Exactly `width` entries, and no trailing bytes."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise MalformedTile(f"entry bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise MalformedTile(f"entry bundle ends inside entry {len(entries)}")
        entries.append(data[offset : offset + length])
        offset += length
    if len(entries) != width:
        raise MalformedTile(f"entry bundle holds {len(entries)} entries, want {width}")
    return entries


def parent_hashes(hashes: bytes) -> bytes:
    """The level above a run of concatenated hashes: node_hash of each complete
    pair (an odd last hash has no complete parent and is dropped)."""
    sha256 = hashlib.sha256
    step = 2 * HASH_SIZE
    end = len(hashes) - len(hashes) % step
    return b"".join([sha256(b"\x01" + hashes[i : i + step]).digest() for i in range(0, end, step)])


def tile_levels(hashes: bytes) -> tuple[bytes, ...]:
    """A tile's concatenated hashes and the complete levels above them inside
    the tile: element r holds its (width >> r) nodes of height r, r < 8."""
    levels = [hashes]
    while len(levels) < TILE_HEIGHT and len(levels[-1]) >= 2 * HASH_SIZE:
        levels.append(parent_hashes(levels[-1]))
    return tuple(levels)
