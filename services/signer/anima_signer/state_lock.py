"""One signer per state directory, held with an exclusive flock (anima_core.files).

Two signers on one state directory would each sequence from their own cached
log frontiers and could sign two different roots for the same size.
"""

from __future__ import annotations

import os
from pathlib import Path

from anima_core.files import LockHeld, lock_exclusive
from anima_signer_api.errors import StateDirInUse

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
        try:
            fd = lock_exclusive(path)
        except LockHeld as held:
            raise StateDirInUse(
                f"another signer{held.holder} holds {path}: only one signer may use a state "
                "directory, or two could sign different checkpoints for one log size; "
                "stop the other signer or use another state_dir"
            ) from None
        return cls(path=path, fd=fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file drops the flock
