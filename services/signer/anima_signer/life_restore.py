"""Restoring an agent from its life data as handed in over the wire (RestoreAgent).

Everything from the host is checked here before it is used: the manifest against the
agent's log key and the anchored (version, hash), each chunk against the manifest,
the released shares against the agent's identity; only then are chunks opened and
the agent restored (Signer.restore_agent: one transaction, the log re-verified).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anima_signer.keys import KeyRing
from anima_signer.lifedata import LifeDataSealer
from anima_signer.recovery import SignerStateSnapshot
from anima_signer_api.errors import InvalidRequest
from anima_verify.eth import eth_address
from anima_verify.lifedata import (
    AnchorState,
    ChunkMissing,
    ChunkRef,
    ManifestNotAnchored,
    VerifiedManifest,
    check_anchored,
    check_chunk,
    verify_manifest,
)
from anima_verify.tlog.note import Verifier

#: Chunk kinds the enclave consumes itself; the others go back to the host to import.
ENCLAVE_KINDS = frozenset({"signer-state", "log"})


@dataclass(frozen=True, slots=True)
class AnchorEvidence:
    """What the host hands the enclave to read an anchor itself (anima_signer.fencing)."""

    agent: bytes  # the anchor slot: the agent's anchor key address
    blocks: list[dict[str, Any]]
    proof: dict[str, Any]


def anchor_address_of(agent_id: str, agent_root: bytes) -> bytes:
    """The anchor slot a root derives (a throwaway key ring, as in open_life_data)."""
    ring = KeyRing(root_secret=bytes(32))
    ring.use_agent_root(agent_id, agent_root)
    return bytes.fromhex(eth_address(ring.anchor_key(agent_id).public_key)[2:])


@dataclass(frozen=True, slots=True)
class OpenedPart:
    kind: str
    plaintext: bytes
    items: int


@dataclass(frozen=True, slots=True)
class OpenedLifeData:
    snapshot: SignerStateSnapshot
    log_entries: list[bytes]
    host_parts: list[OpenedPart]  # memories, character, runtime: in manifest order


def verified_chunks(
    signed_manifest: bytes,
    chunks: Mapping[str, bytes],
    *,
    agent_id: str,
    log_verifier: Verifier,
    anchor: AnchorState,
) -> tuple[VerifiedManifest, list[tuple[ChunkRef, bytes]]]:
    """The anchored manifest and every chunk it names, each byte-checked."""
    verified = verify_manifest(signed_manifest, agent_id=agent_id, log_verifier=log_verifier)
    check_anchored(
        verified.manifest, anchored_version=anchor.version, anchored_hash=anchor.manifest_hash
    )
    if verified.manifest.epoch != anchor.epoch:
        # Signed by the agent's key, yet at another epoch than the one anchored for it:
        # restoring it would hand over from the wrong epoch (and re-fence nothing).
        raise ManifestNotAnchored(
            f"the manifest is at recovery epoch {verified.manifest.epoch}, the anchor at "
            f"{anchor.epoch}"
        )
    out = []
    for ref in verified.manifest.chunks:
        data = chunks.get(ref.chunk_id)
        if data is None:
            raise ChunkMissing(f"chunk {ref.chunk_id[:16]}… is named by the manifest but not sent")
        check_chunk(ref, data)
        out.append((ref, data))
    return verified, out


def open_life_data(
    chunks: list[tuple[ChunkRef, bytes]], *, agent_id: str, agent_root: bytes, epoch: int
) -> OpenedLifeData:
    """Open the chunks with a recovered root before the agent exists here (a throwaway
    key ring: the root is stored only once the restore has verified everything)."""
    ring = KeyRing(root_secret=bytes(32))  # signer-root keys are never used here
    ring.use_agent_root(agent_id, agent_root)
    sealer = LifeDataSealer(keyring=ring)
    snapshot: SignerStateSnapshot | None = None
    entries: list[bytes] = []
    parts: list[OpenedPart] = []
    for ref, data in chunks:
        plain = sealer.open_chunk(agent_id, ref=ref, data=data, epochs=range(epoch + 1))
        if ref.kind == "signer-state":
            snapshot = SignerStateSnapshot.from_bytes(plain)  # the latest one wins
        elif ref.kind == "log":
            entries += _log_entries(plain)
        else:
            parts.append(OpenedPart(kind=ref.kind, plaintext=plain, items=ref.items))
    if snapshot is None:
        raise InvalidRequest("the manifest names no signer-state chunk: nothing to restore")
    if snapshot.record.agent_id != agent_id:
        raise InvalidRequest("the signer-state chunk is for another agent")
    return OpenedLifeData(snapshot=snapshot, log_entries=entries, host_parts=parts)


def encode_log_entries(entries: list[bytes]) -> bytes:
    """A log chunk's plaintext: the entries, hex, as a JSON list."""
    return json.dumps([e.hex() for e in entries]).encode()


def _log_entries(plain: bytes) -> list[bytes]:
    try:
        doc = json.loads(plain)
        if not isinstance(doc, list) or not all(isinstance(e, str) for e in doc):
            raise ValueError("not a list of hex strings")
        return [bytes.fromhex(e) for e in doc]
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"a log chunk does not parse: {exc}") from None
