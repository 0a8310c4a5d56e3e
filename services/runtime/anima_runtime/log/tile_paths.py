"""Naming the tiles of a C2SP tlog-tiles log: the path of a full or partial tile (level
ENTRIES_LEVEL for the entry bundles), and the tile a path names, for a server that
serves them by path; a path that is not canonical names none."""

from __future__ import annotations

import re
from dataclasses import dataclass

from anima_verify.tlog.tiles import TILE_WIDTH, encode_tile_index, entries_path, tile_path

ENTRIES_LEVEL = -1  # the entry bundles, in places where a level is expected


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
