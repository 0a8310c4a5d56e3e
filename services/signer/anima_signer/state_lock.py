"""One signer per state directory, held with an exclusive flock.

Two signers on one state directory would each sequence from their own cached
log frontiers and could sign two different roots for the same size. The lock
belongs to an open file, so the kernel drops it when the holder closes it or
dies (kill -9 included): a lock file left behind locks nothing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from anima_signer.errors import StateDirInUse

LOCK_FILE = "signer.lock"


class StateDirLock:
    """The held lock; `release` (idempotent) lets the next signer start."""

    def __init__(self, *, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path) -> StateDirLock:
        """Take the lock without waiting; StateDirInUse while another signer holds it."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StateDirInUse(
                f"another signer{holder} holds {path}: only one signer may use a state "
                "directory, or two could sign different checkpoints for one log size; "
                "stop the other signer or use another state_dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # For the message above; the flock, not this text, is what excludes.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path=path, fd=fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file drops the flock


def _holder(fd: int) -> str:
    """' (pid N)' from the lock file, or '' while the holder has not written it yet."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f" (pid {text})" if text.isdigit() else ""
