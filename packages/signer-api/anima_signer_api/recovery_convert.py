"""Protobuf <-> domain types for the life-data, escrow and restore RPCs (both sides)."""

from __future__ import annotations

from anima.signer.v1 import signer_pb2 as pb
from anima_signer_api.errors import InvalidRequest
from anima_verify.attestation.evidence import Evidence
from anima_verify.lifedata import AnchorState, ChunkRef

_HASH_SIZE = 32


def anchor_to_proto(state: AnchorState) -> pb.AnchorState:
    return pb.AnchorState(
        manifest_hash=state.manifest_hash,
        checkpoint_root=state.checkpoint_root,
        version=state.version,
        checkpoint_size=state.checkpoint_size,
        epoch=state.epoch,
    )


def anchor_from_proto(msg: pb.AnchorState) -> AnchorState:
    if len(msg.manifest_hash) != _HASH_SIZE or len(msg.checkpoint_root) != _HASH_SIZE:
        raise InvalidRequest("anchor manifest_hash and checkpoint_root are 32 bytes each")
    if msg.version < 1:
        raise InvalidRequest("anchor version starts at 1")
    return AnchorState(
        manifest_hash=msg.manifest_hash,
        checkpoint_root=msg.checkpoint_root,
        version=msg.version,
        checkpoint_size=msg.checkpoint_size,
        epoch=msg.epoch,
    )


def evidence_to_proto(evidence: Evidence) -> pb.Evidence:
    return pb.Evidence(
        tee=evidence.tee, quote=evidence.quote, collateral_json=evidence.collateral_json or b""
    )


def evidence_from_proto(msg: pb.Evidence) -> Evidence:
    if not msg.tee or not msg.quote:
        raise InvalidRequest("evidence needs a tee name and a quote")
    return Evidence(tee=msg.tee, quote=msg.quote, collateral_json=msg.collateral_json or None)


def chunk_to_proto(ref: ChunkRef, data: bytes) -> pb.SealedChunk:
    return pb.SealedChunk(
        chunk_id=ref.chunk_id, kind=ref.kind, size=ref.size, items=ref.items, data=data
    )


def chunk_from_proto(msg: pb.SealedChunk) -> tuple[ChunkRef, bytes]:
    ref = ChunkRef(chunk_id=msg.chunk_id, kind=msg.kind, size=msg.size, items=msg.items)
    return ref, msg.data
