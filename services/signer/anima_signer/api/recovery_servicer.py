"""The gRPC face of life-data sync, guardian escrow and restore (mixed into SignerServicer).

Thin: convert, call the transport-agnostic operations (anima_signer.recovery_api),
convert back. Sealing, escrow and restore are CPU work and a restore commits
durably, so they run off the event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from anima.signer.v1 import signer_pb2 as pb
from anima_signer.core import Signer
from anima_signer.life_restore import AnchorEvidence
from anima_signer_api import convert
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.recovery_convert import (
    anchor_from_proto,
    anchor_to_proto,
    chunk_to_proto,
    evidence_from_proto,
    evidence_to_proto,
)
from anima_verify.escrow.share import public_bytes
from anima_verify.lifedata import parse_manifest

if TYPE_CHECKING:
    from anima_core.interceptors import Context

ROLE_DASYNC = "dasync"  # the DA sync service: seals and signs, restores nothing
ROLE_RECOVERY = "recovery"  # a recovering node's operator, or a guardian's caller

_ADDRESS_SIZE = 20
_KEY_SIZE = 32


def recovery_access(*, admin: str) -> dict[str, frozenset[str]]:
    """Who may call the recovery RPCs (method name -> roles): never the runtime."""
    sync = frozenset({admin, ROLE_DASYNC})
    recovery = frozenset({admin, ROLE_RECOVERY})
    return {
        "SealLifeData": sync,
        "SignLifeManifest": sync,
        "SignAnchorUpdate": sync,
        "EscrowAgentRoot": frozenset({admin}),
        "GetGuardianKey": recovery,
        "GuardianChallenge": recovery,
        "ReleaseShare": recovery,
        "BeginRecovery": recovery,
        "RestoreAgent": recovery,
        "CheckAnchor": frozenset({admin, ROLE_DASYNC, ROLE_RECOVERY}),
        "GetEscrow": frozenset({admin}),
    }


def anchor_evidence_from_proto(msg: pb.AnchorProof) -> AnchorEvidence:
    if len(msg.agent_address) != _ADDRESS_SIZE:
        raise InvalidRequest("anchor_proof.agent_address is a 20-byte address")
    try:
        blocks = [json.loads(b) for b in msg.blocks_json]
        proof = json.loads(msg.proof_json)
    except (ValueError, RecursionError):
        raise InvalidRequest("anchor_proof blocks and proof are JSON") from None
    if not all(isinstance(b, dict) for b in blocks) or not isinstance(proof, dict):
        raise InvalidRequest("anchor_proof blocks and proof are JSON objects")
    return AnchorEvidence(agent=msg.agent_address, blocks=blocks, proof=proof)


class RecoveryServicer:
    _signer: Signer

    async def SealLifeData(
        self, request: pb.SealLifeDataRequest, context: Context
    ) -> pb.SealLifeDataResponse:
        parts = [(p.kind, p.plaintext, p.items) for p in request.parts]
        sealed = await asyncio.to_thread(
            self._signer.seal_life_data,
            request.agent_id,
            epoch=request.epoch,
            parts=parts,
            include_signer_state=request.include_signer_state,
        )
        return pb.SealLifeDataResponse(chunks=[chunk_to_proto(r, d) for r, d in sealed])

    async def SignLifeManifest(
        self, request: pb.SignLifeManifestRequest, context: Context
    ) -> pb.SignLifeManifestResponse:
        signed = self._signer.sign_manifest(parse_manifest(request.manifest))
        return pb.SignLifeManifestResponse(signed_manifest=signed.to_bytes())

    async def SignAnchorUpdate(
        self, request: pb.SignAnchorUpdateRequest, context: Context
    ) -> pb.SignAnchorUpdateResponse:
        if len(request.contract) != _ADDRESS_SIZE:
            raise InvalidRequest("contract is a 20-byte address")
        v, r, s = self._signer.sign_anchor_update(
            request.agent_id,
            state=anchor_from_proto(request.state),
            chain_id=request.chain_id,
            contract=request.contract,
        )
        return pb.SignAnchorUpdateResponse(
            agent_address=self._signer.anchor_address(request.agent_id), v=v, r=r, s=s
        )

    async def EscrowAgentRoot(
        self, request: pb.EscrowAgentRootRequest, context: Context
    ) -> pb.EscrowAgentRootResponse:
        if any(len(k) != _KEY_SIZE for k in request.guardian_keys):
            raise InvalidRequest("each guardian key is a 32-byte X25519 public key")
        shares = await asyncio.to_thread(
            self._signer.escrow_agent_root,
            request.agent_id,
            guardians=[X25519PublicKey.from_public_bytes(k) for k in request.guardian_keys],
            threshold=request.threshold,
            policy_json=request.policy_json,
        )
        return pb.EscrowAgentRootResponse(sealed_shares=shares)

    async def GetGuardianKey(
        self, request: pb.GetGuardianKeyRequest, context: Context
    ) -> pb.GetGuardianKeyResponse:
        key = public_bytes(self._signer.guardian().public_key())
        return pb.GetGuardianKeyResponse(public_key=key)

    async def GuardianChallenge(
        self, request: pb.GuardianChallengeRequest, context: Context
    ) -> pb.GuardianChallengeResponse:
        if not request.agent_id:
            raise InvalidRequest("agent_id is required")
        return pb.GuardianChallengeResponse(
            challenge=self._signer.guardian().challenge(request.agent_id)
        )

    async def ReleaseShare(
        self, request: pb.ReleaseShareRequest, context: Context
    ) -> pb.ReleaseShareResponse:
        released = await asyncio.to_thread(
            self._signer.guardian().release,
            request.sealed_share,
            agent_id=request.agent_id,
            recipient=request.recipient,
            evidence=evidence_from_proto(request.evidence),
            nonce=request.nonce,
        )
        return pb.ReleaseShareResponse(released_share=released)

    async def BeginRecovery(
        self, request: pb.BeginRecoveryRequest, context: Context
    ) -> pb.BeginRecoveryResponse:
        if not request.nonces:
            raise InvalidRequest("one nonce per guardian is required")
        recipient, evidence = await self._signer.begin_recovery(
            request.agent_id, nonces=list(request.nonces)
        )
        return pb.BeginRecoveryResponse(
            recipient=recipient, evidence=[evidence_to_proto(e) for e in evidence]
        )

    async def RestoreAgent(
        self, request: pb.RestoreAgentRequest, context: Context
    ) -> pb.RestoreAgentResponse:
        chunks: dict[str, bytes] = {c.chunk_id: c.data for c in request.chunks}
        proof = (
            anchor_evidence_from_proto(request.anchor_proof)
            if request.HasField("anchor_proof")
            else None
        )
        anchor = anchor_from_proto(request.anchor) if request.HasField("anchor") else None
        agent, parts, handover = await asyncio.to_thread(
            self._signer.restore_from_life_data,
            request.agent_id,
            log_verifier_key=request.log_verifier_key,
            signed_manifest=request.signed_manifest,
            chunks=chunks,
            released_shares=list(request.released_shares),
            anchor=anchor,
            anchor_proof=proof,
        )
        return pb.RestoreAgentResponse(
            agent=convert.agent_to_proto(agent),
            parts=[
                pb.LifeDataPart(kind=p.kind, plaintext=p.plaintext, items=p.items) for p in parts
            ],
            escrow_shares=self._signer.latest_escrow(agent.agent_id)[1],
            handover_entries=[e.entry for e in handover.entries],
            handover_checkpoint=handover.checkpoint,
        )

    async def CheckAnchor(
        self, request: pb.CheckAnchorRequest, context: Context
    ) -> pb.CheckAnchorResponse:
        if not request.HasField("anchor_proof"):
            raise InvalidRequest("anchor_proof is required: the signer reads the anchor itself")
        evidence = anchor_evidence_from_proto(request.anchor_proof)
        # Walking up to MAX_HEADERS headers and a storage proof is CPU work.
        anchored, epoch = await asyncio.to_thread(
            self._signer.check_anchor, request.agent_id, evidence
        )
        return pb.CheckAnchorResponse(anchored=anchor_to_proto(anchored), local_epoch=epoch)

    async def GetEscrow(
        self, request: pb.GetEscrowRequest, context: Context
    ) -> pb.GetEscrowResponse:
        threshold, shares = self._signer.latest_escrow(request.agent_id)
        return pb.GetEscrowResponse(sealed_shares=shares, threshold=threshold)
