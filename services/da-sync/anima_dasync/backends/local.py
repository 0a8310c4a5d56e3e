"""The embedded default: a directory. Writes are atomic (temp file, fsync, rename) so a
crash leaves either the whole object or none of it."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from anima_dasync.backends.base import ManifestExists
from anima_verify.agent_id import is_agent_id
from anima_verify.lifedata import ChunkMissing

_CHUNK_ID = re.compile(r"[0-9a-f]{64}")


class LocalDirectoryBackend:
    name = "local"

    def __init__(self, *, root: Path) -> None:
        self._chunks = root / "chunks"
        self._manifests = root / "manifests"
        self._chunks.mkdir(parents=True, exist_ok=True)
        self._manifests.mkdir(parents=True, exist_ok=True)

    def _chunk_path(self, chunk_id: str) -> Path:
        if not _CHUNK_ID.fullmatch(chunk_id):
            raise ValueError("a chunk id is a lowercase hex SHA-256")
        return self._chunks / chunk_id

    def _manifest_path(self, agent_id: str, version: int) -> Path:
        if not is_agent_id(agent_id) or version < 1:
            raise ValueError("bad agent id or manifest version")
        return self._manifests / agent_id / f"{version:020d}.json"

    def put_chunk(self, chunk_id: str, data: bytes) -> None:
        path = self._chunk_path(chunk_id)
        if not path.exists():
            _write_atomically(path, data, replace=True)

    def get_chunk(self, chunk_id: str) -> bytes:
        try:
            return self._chunk_path(chunk_id).read_bytes()
        except FileNotFoundError:
            raise ChunkMissing(
                f"chunk {chunk_id[:16]}… is not in the {self.name} backend"
            ) from None

    def publish_manifest(self, agent_id: str, version: int, data: bytes) -> None:
        path = self._manifest_path(agent_id, version)
        path.parent.mkdir(exist_ok=True)
        if not _write_atomically(path, data, replace=False):
            raise ManifestExists(f"manifest version {version} of agent {agent_id!r} exists")

    def get_manifest(self, agent_id: str, version: int) -> bytes:
        try:
            return self._manifest_path(agent_id, version).read_bytes()
        except FileNotFoundError:
            raise ChunkMissing(
                f"manifest version {version} of agent {agent_id!r} is not in the "
                f"{self.name} backend"
            ) from None

    def latest_version(self, agent_id: str) -> int:
        folder = self._manifests / agent_id
        if not is_agent_id(agent_id) or not folder.is_dir():
            return 0
        versions = [int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()]
        return max(versions, default=0)


def _write_atomically(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write `data` at `path`; with replace=False, False if `path` already exists."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)  # fails if path exists: a version is never replaced
            except FileExistsError:
                return False
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True
