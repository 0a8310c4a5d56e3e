"""Small file-system primitives the services share.

`lock_exclusive`: one process per directory. The lock belongs to an open
file, so the kernel drops it when the holder closes it or dies (kill -9
included): a lock file left behind locks nothing. The holder's pid is written
into the file only to name it in the next process's error.

`replace_file`: readers see the old content or the new, never a torn write
(ready files, published certificates). Not fsynced: callers that need
durability across power loss do their own fsync dance.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LockHeld(Exception):
    """Another process holds the lock; `holder` is " (pid N)" or "" if not yet written."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by another process{holder}")
        self.path = path
        self.holder = holder


def lock_exclusive(path: Path, *, mode: int = 0o600) -> int:
    """Take an exclusive flock on `path` (created if missing) without waiting.

    Returns the open descriptor: closing it releases the lock. Raises LockHeld.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise LockHeld(path, f" (pid {text})" if text.isdigit() else "") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` beside `path` and rename it into place."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
