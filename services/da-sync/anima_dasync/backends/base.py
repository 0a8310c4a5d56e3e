"""What every DA backend offers: content-addressed chunks and per-agent manifests.

A backend stores bytes; it is not trusted with anything (the restore verifies
every byte against the signed, anchored manifest). Chunks are immutable and
named by the SHA-256 of their bytes; a manifest version, once published, is
never replaced. Implemented: local directory, Ethereum calldata, EIP-4844 blobs (with
an archive); room for Celestia and others (a chunk is bytes under its content address).
"""

from __future__ import annotations

from typing import Protocol

from anima_verify.errors import AnimaError, ErrorKind


class ManifestExists(AnimaError):
    """That manifest version is already published: versions are never replaced."""

    kind = ErrorKind.ALREADY_EXISTS
    reason = "DA_MANIFEST_EXISTS"


class DABackend(Protocol):
    @property
    def name(self) -> str: ...

    def put_chunk(self, chunk_id: str, data: bytes) -> None:
        """Store a chunk durably before returning (idempotent: same id, same bytes)."""
        ...

    def get_chunk(self, chunk_id: str) -> bytes:
        """The chunk's bytes as stored; ChunkMissing if the backend has none."""
        ...

    def publish_manifest(self, agent_id: str, version: int, data: bytes) -> None:
        """Publish a signed manifest durably; ManifestExists if the version is taken."""
        ...

    def get_manifest(self, agent_id: str, version: int) -> bytes:
        """The signed manifest of that version; ChunkMissing if there is none."""
        ...

    def latest_version(self, agent_id: str) -> int:
        """The highest published manifest version, 0 if none (a hint: the anchor decides)."""
        ...
