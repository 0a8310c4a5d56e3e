"""Fetching an agent's life data for a restore: the anchored manifest and every chunk it
names, each checked, all held in memory before anything is restored (all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from anima_dasync.backends.base import DABackend
from anima_verify.lifedata import (
    ChunkRef,
    VerifiedManifest,
    check_anchored,
    check_chunk,
    verify_manifest,
)
from anima_verify.tlog.note import Verifier


@dataclass(frozen=True, slots=True)
class FetchedLifeData:
    manifest: VerifiedManifest
    chunks: tuple[tuple[ChunkRef, bytes], ...]  # in manifest order, each checked


def fetch_verified(
    backend: DABackend,
    *,
    agent_id: str,
    log_verifier: Verifier,
    anchored_version: int,
    anchored_hash: bytes,
) -> FetchedLifeData:
    """The anchored manifest (never an older one the host offers) and its chunks."""
    verified = verify_manifest(
        backend.get_manifest(agent_id, anchored_version),
        agent_id=agent_id,
        log_verifier=log_verifier,
    )
    check_anchored(
        verified.manifest, anchored_version=anchored_version, anchored_hash=anchored_hash
    )
    chunks = []
    for ref in verified.manifest.chunks:
        data = backend.get_chunk(ref.chunk_id)
        check_chunk(ref, data)
        chunks.append((ref, data))
    return FetchedLifeData(manifest=verified, chunks=tuple(chunks))
