"""Publishing a new manifest: every chunk durable and read back first, the manifest last.

So a failed or partial upload leaves the previous manifest as the latest one (and
the chunks it names untouched): no manifest is ever published that drops history
or names a chunk the backend does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping

from anima_dasync.backends.base import DABackend
from anima_verify.lifedata import (
    ChunkMissing,
    Manifest,
    SignedManifest,
    check_chunk,
    check_successor,
)


def publish(
    backend: DABackend,
    signed: SignedManifest,
    *,
    new_chunks: Mapping[str, bytes],
    previous: Manifest | None,
) -> None:
    """Upload `new_chunks` (id -> sealed bytes), check the backend holds every chunk the
    manifest names, then publish the manifest. Raises before publishing on any failure."""
    manifest = signed.manifest
    check_successor(previous, manifest)
    for ref in manifest.chunks:
        data = new_chunks.get(ref.chunk_id)
        if data is not None:
            check_chunk(ref, data)
            backend.put_chunk(ref.chunk_id, data)
    inherited = {ref.chunk_id for ref in (previous.chunks if previous else ())}
    for ref in manifest.chunks:
        if ref.chunk_id not in new_chunks and ref.chunk_id not in inherited:
            raise ChunkMissing(f"chunk {ref.chunk_id[:16]}… is named but was never uploaded")
        check_chunk(ref, backend.get_chunk(ref.chunk_id))  # read back: durable and intact
    backend.publish_manifest(manifest.agent_id, manifest.version, signed.to_bytes())
