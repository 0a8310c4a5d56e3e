"""An archive for blobs, which the chain prunes after about 18 days (4096 epochs).

Blobs are kept by versioned hash in a directory; a read recomputes the KZG commitment
and checks it against the versioned hash, so a damaged or swapped file is refused
(ChainDataMismatch), never served.
"""

from __future__ import annotations

from pathlib import Path

from anima_dasync.backends.blob_codec import check_blob
from anima_dasync.backends.local import _write_atomically


class BlobArchive:
    def __init__(self, *, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, versioned_hash: bytes) -> Path:
        if len(versioned_hash) != 32:
            raise ValueError("a versioned hash is 32 bytes")
        return self._root / versioned_hash.hex()

    def put(self, versioned_hash: bytes, blob: bytes) -> None:
        check_blob(blob, versioned_hash)  # archive only what the hash commits to
        path = self._path(versioned_hash)
        if not path.exists():
            _write_atomically(path, blob, replace=True)

    def get(self, versioned_hash: bytes) -> bytes | None:
        """The verified blob, None if the archive has none."""
        try:
            blob = self._path(versioned_hash).read_bytes()
        except FileNotFoundError:
            return None
        check_blob(blob, versioned_hash)
        return blob
