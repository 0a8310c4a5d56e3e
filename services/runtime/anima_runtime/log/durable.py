"""Crash-safe file writes: temp file, fsync, atomic rename, fsync of directories.

`DurableWriter.write_all` writes a set of files so that each is either absent
(or its old version) or complete: contents go to temp files, which are all
fsynced before any is renamed into place. The renames become durable in
`sync()`, which fsyncs every directory they touched; until then nothing may
point at the new files (the checkpoint is written last, after `sync()`).
fsyncs run in parallel threads: the disk can take them together, and each
one releases the GIL.

Files are created owner-only (0600) and directories 0700: a log's directory also
holds the payloads of what users said (index.sqlite3), so nothing under it is
left for other local users to read.

Every step goes through `_step` (called in order, from the calling thread) so
tests can stop a batch after any operation and check what a restart finds.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TMP_DIR = ".tmp"
FSYNC_THREADS = 8
FILE_MODE = 0o600
DIR_MODE = 0o700
_counter = itertools.count()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _step(name: str, path: Path) -> None:
    """A point where a crash may happen; tests replace this to inject one."""


def _fsync_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="anima-fsync")
        return _pool


def _fsync_all(fds: list[int]) -> None:
    if len(fds) == 1:
        os.fsync(fds[0])
        return
    for future in [_fsync_pool().submit(os.fsync, fd) for fd in fds]:
        future.result()


def private_dirs(path: Path) -> None:
    """`path` and its missing parents, each created 0700 (`mkdir(parents=True)` would
    give the parents the default mode). Existing directories are left as they are."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)


def fsync_dir(path: Path) -> None:
    _step("fsync_dir", path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableWriter:
    """Writes files under `root` atomically; `sync()` makes the renames durable."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._tmp = root / TMP_DIR
        self._dirty: set[Path] = set()

    @staticmethod
    def prepare(root: Path) -> None:
        """Create the root and an empty temp directory; debris of a crash is removed."""
        private_dirs(root)
        tmp = root / TMP_DIR
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(mode=DIR_MODE)
        fsync_dir(root)

    def _mkdirs(self, directory: Path) -> None:
        missing: list[Path] = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            d.mkdir(mode=DIR_MODE, exist_ok=True)
            self._dirty.add(d.parent)

    def write(self, relative: str, data: bytes) -> None:
        self.write_all({relative: data})

    def write_all(self, files: Mapping[str, bytes]) -> None:
        """Write every file so that a reader sees its old version or the whole new one."""
        staged: list[tuple[Path, Path, int]] = []
        try:
            for relative, data in files.items():
                target = self._root / relative
                self._mkdirs(target.parent)
                tmp = self._tmp / f"{os.getpid()}-{next(_counter)}"
                _step("write", target)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                staged.append((tmp, target, fd))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            for _, target, _ in staged:
                _step("fsync", target)
            _fsync_all([fd for *_, fd in staged])
        finally:
            for *_, fd in staged:
                os.close(fd)
        for tmp, target, _ in staged:
            _step("rename", target)
            os.replace(tmp, target)
            self._dirty.add(target.parent)

    def sync(self) -> None:
        """fsync every directory touched since the last sync."""
        dirty, self._dirty = sorted(self._dirty), set()
        for directory in dirty:
            _step("fsync_dir", directory)
        fds = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in dirty]
        try:
            _fsync_all(fds)
        finally:
            for fd in fds:
                os.close(fd)
