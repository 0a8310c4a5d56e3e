"""Life data for DA, sealed and signed inside the enclave.

Chunks are vault blobs under the agent's life-data key (derived from the agent
root, so only an enclave that recovered the root opens them); the context binds
the chunk kind, so a memories chunk never opens as signer state. The manifest is
signed with the agent's log key, domain-separated (anima_verify.lifedata).
"""

from __future__ import annotations

from collections.abc import Container

from anima_signer.keys import PURPOSE_LIFE_DATA, KeyRing
from anima_signer.vault import Vault
from anima_verify.lifedata import (
    CHUNK_KINDS,
    ChunkRef,
    Manifest,
    SignedManifest,
    check_chunk,
    chunk_id,
)

_CONTEXT = b"anima/life-data/chunk/v1\x00"


def _context(kind: str) -> bytes:
    if kind not in CHUNK_KINDS:
        raise ValueError(f"chunk kind {kind!r} is not one of {sorted(CHUNK_KINDS)}")
    return _CONTEXT + kind.encode()


class LifeDataSealer:
    """Seals chunks and signs manifests for the agents of one enclave."""

    def __init__(self, *, keyring: KeyRing) -> None:
        self._keys = keyring
        self._vault = Vault(keyring=keyring)

    def seal_chunk(
        self, agent_id: str, *, kind: str, plaintext: bytes, items: int, epoch: int
    ) -> tuple[ChunkRef, bytes]:
        """The sealed chunk and its reference (addressed by the ciphertext's hash)."""
        sealed = self._vault.seal(
            plaintext,
            agent_id=agent_id,
            purpose=PURPOSE_LIFE_DATA,
            epoch=epoch,
            context=_context(kind),
        )
        return ChunkRef(chunk_id=chunk_id(sealed), kind=kind, size=len(sealed), items=items), sealed

    def open_chunk(
        self, agent_id: str, *, ref: ChunkRef, data: bytes, epochs: Container[int]
    ) -> bytes:
        """The plaintext of a chunk a verified manifest names: ChunkCorrupt if the bytes are
        not the ones it names, a vault error if sealed for another agent, kind or epoch."""
        check_chunk(ref, data)
        return self._vault.unseal(
            data,
            agent_id=agent_id,
            purpose=PURPOSE_LIFE_DATA,
            epochs=epochs,
            context=_context(ref.kind),
        )

    def sign_manifest(self, manifest: Manifest) -> SignedManifest:
        signature = self._keys.log_key(manifest.agent_id).sign(manifest.signing_message())
        return SignedManifest(manifest=manifest, signature=signature)
