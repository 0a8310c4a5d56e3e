"""Which partial tiles a tiled log keeps, and the removal of the others.

Every partial tile written for a published checkpoint is kept until its
full tile is durable (C2SP tlog-tiles: a log serves the partial tiles of every
tree size it produced a checkpoint for, and may delete them only once the full
tile exists), so `<dir>` can be published or copied as it is and a client
holding any checkpoint the log returned finds its tiles. The `.p/` folder of a
tile goes after the checkpoint that first covers its full tile; partial tiles
beyond the checkpoint, left by a crash, go when the log is opened.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from anima_runtime.log.tile_paths import ENTRIES_LEVEL, parse_tile_path, partial_path
from anima_verify.tlog.tiles import TILE_HEIGHT, TILE_WIDTH

logger = logging.getLogger(__name__)


def remove_partials(directory: Path, completed: Iterable[str]) -> None:
    """Delete the `.p/` folders of the tiles (and bundles) at `completed`, now full and
    durable."""
    for path in completed:
        _remove(directory / f"{path}.p")


def remove_stale_partials(directory: Path, size: int, *, levels: int) -> None:
    """Delete `.p/` debris next to each level's right edge: partial tiles of
    tiles now full (left by a crash after their checkpoint), and tiles or
    widths beyond the checkpoint. Widths up to the edge's are kept: earlier
    checkpoints of this log name them. `levels`: the hash levels the tree of `size` has."""
    for level in [ENTRIES_LEVEL, *range(levels + 1)]:
        shift = 0 if level == ENTRIES_LEVEL else TILE_HEIGHT * level
        edge, width = divmod(size >> shift, TILE_WIDTH)
        folders = {
            directory / Path(partial_path(level, i, 1)).parent.parent
            for i in (edge, max(0, edge - 1))
        }
        for folder in folders:
            for child in _partial_dirs(folder):
                tile_index = _index_of(child, directory, level)
                if tile_index is None:
                    continue
                if tile_index != edge or width == 0:
                    _remove(child)
                    continue
                for width_dir in child.iterdir():
                    name = width_dir.name
                    if not (name.isdigit() and 0 < int(name) <= width):
                        _remove(width_dir)


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
