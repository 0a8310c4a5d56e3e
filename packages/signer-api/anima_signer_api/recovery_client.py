"""SignerClient's life-data, guardian and restore calls (mixed into SignerClient).

Only sealing, signing and reads are sent twice after a lost connection (doing them
again changes nothing the caller relies on); a guardian release, a BeginRecovery
and a restore are not (a release consumes its challenge, a restore commits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from anima.signer.v1 import signer_pb2 as pb
from anima_signer_api import convert
from anima_signer_api.recovery_convert import (
    anchor_from_proto,
    anchor_to_proto,
    chunk_from_proto,
    chunk_to_proto,
    evidence_from_proto,
    evidence_to_proto,
)
from anima_signer_api.types import Agent
from anima_verify.attestation.evidence import Evidence
from anima_verify.lifedata import AnchorState, ChunkRef, Manifest, SignedManifest
from anima_verify.lifedata.manifest import parse_signed_manifest

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RestoredAgent:
    agent: Agent
    parts: list[tuple[str, bytes, int]]  # (kind, plaintext, items): memories, character, runtime
    # The root re-escrowed to the new signer's configured guardians (none configured: []).
    escrow_shares: list[bytes] = dataclasses.field(default_factory=list)
    # The log after the anchored checkpoint (the handover entry) and a checkpoint of it.
    handover_entries: list[bytes] = dataclasses.field(default_factory=list)
    handover_checkpoint: bytes = b""


class RecoveryCalls:
    """Provided by SignerClient: `_unary` and `_call_options`."""

    def _call_options(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _unary(
        self, method: str, send: Callable[[Any], Awaitable[T]], *, repeatable: bool
    ) -> T:
        raise NotImplementedError

    # ------------------------------------------------------------ DA sync

    async def seal_life_data(
        self,
        agent_id: str,
        *,
        epoch: int,
        parts: Iterable[tuple[str, bytes, int]] = (),
        include_signer_state: bool = True,
    ) -> list[tuple[ChunkRef, bytes]]:
        request = pb.SealLifeDataRequest(
            agent_id=agent_id,
            epoch=epoch,
            parts=[pb.LifeDataPart(kind=k, plaintext=p, items=n) for k, p, n in parts],
            include_signer_state=include_signer_state,
        )
        response = await self._unary(
            "SealLifeData",
            lambda stub: stub.SealLifeData(request, **self._call_options()),
            repeatable=True,
        )
        return [chunk_from_proto(c) for c in response.chunks]

    async def sign_life_manifest(self, manifest: Manifest) -> SignedManifest:
        request = pb.SignLifeManifestRequest(manifest=manifest.to_bytes())
        response = await self._unary(
            "SignLifeManifest",
            lambda stub: stub.SignLifeManifest(request, **self._call_options()),
            repeatable=True,
        )
        return parse_signed_manifest(response.signed_manifest)

    async def sign_anchor_update(
        self, agent_id: str, *, state: AnchorState, chain_id: int, contract: bytes
    ) -> tuple[bytes, tuple[int, bytes, bytes]]:
        """The agent's anchor address and (v, r, s) for AgentAnchor.update."""
        request = pb.SignAnchorUpdateRequest(
            agent_id=agent_id, chain_id=chain_id, contract=contract, state=anchor_to_proto(state)
        )
        response = await self._unary(
            "SignAnchorUpdate",
            lambda stub: stub.SignAnchorUpdate(request, **self._call_options()),
            repeatable=True,
        )
        return response.agent_address, (response.v, response.r, response.s)

    # ------------------------------------------------------------ escrow and guardians

    async def escrow_agent_root(
        self, agent_id: str, *, guardian_keys: Sequence[bytes], threshold: int, policy_json: str
    ) -> list[bytes]:
        request = pb.EscrowAgentRootRequest(
            agent_id=agent_id,
            guardian_keys=list(guardian_keys),
            threshold=threshold,
            policy_json=policy_json,
        )
        response = await self._unary(
            "EscrowAgentRoot",
            lambda stub: stub.EscrowAgentRoot(request, **self._call_options()),
            repeatable=True,  # a fresh escrow each time; the caller keeps the one it got
        )
        return list(response.sealed_shares)

    async def get_escrow(self, agent_id: str) -> tuple[int, list[bytes]]:
        """(threshold, shares) of the agent's latest escrow, each share sealed to its
        guardian in the signer's configured order; (0, []) if it was never escrowed."""
        request = pb.GetEscrowRequest(agent_id=agent_id)
        response = await self._unary(
            "GetEscrow",
            lambda stub: stub.GetEscrow(request, **self._call_options()),
            repeatable=True,
        )
        return response.threshold, [bytes(s) for s in response.sealed_shares]

    async def guardian_key(self) -> bytes:
        request = pb.GetGuardianKeyRequest()
        response = await self._unary(
            "GetGuardianKey",
            lambda stub: stub.GetGuardianKey(request, **self._call_options()),
            repeatable=True,
        )
        return bytes(response.public_key)

    async def guardian_challenge(self, agent_id: str) -> bytes:
        request = pb.GuardianChallengeRequest(agent_id=agent_id)
        response = await self._unary(
            "GuardianChallenge",
            lambda stub: stub.GuardianChallenge(request, **self._call_options()),
            repeatable=True,
        )
        return bytes(response.challenge)

    async def release_share(
        self,
        agent_id: str,
        *,
        sealed_share: bytes,
        recipient: bytes,
        evidence: Evidence,
        nonce: bytes,
    ) -> bytes:
        request = pb.ReleaseShareRequest(
            agent_id=agent_id,
            sealed_share=sealed_share,
            recipient=recipient,
            evidence=evidence_to_proto(evidence),
            nonce=nonce,
        )
        response = await self._unary(
            "ReleaseShare",
            lambda stub: stub.ReleaseShare(request, **self._call_options()),
            repeatable=False,
        )
        return bytes(response.released_share)

    # ------------------------------------------------------------ restore

    async def begin_recovery(
        self, agent_id: str, *, nonces: Sequence[bytes]
    ) -> tuple[bytes, list[Evidence]]:
        """This enclave's fresh recipient key and its evidence for each guardian's nonce."""
        request = pb.BeginRecoveryRequest(agent_id=agent_id, nonces=list(nonces))
        response = await self._unary(
            "BeginRecovery",
            lambda stub: stub.BeginRecovery(request, **self._call_options()),
            repeatable=False,
        )
        return bytes(response.recipient), [evidence_from_proto(e) for e in response.evidence]

    async def restore_agent(
        self,
        agent_id: str,
        *,
        log_verifier_key: str,
        signed_manifest: bytes,
        chunks: Iterable[tuple[ChunkRef, bytes]],
        released_shares: Sequence[bytes],
        anchor: AnchorState,
        anchor_proof: tuple[bytes, Sequence[bytes], bytes] | None = None,
    ) -> RestoredAgent:
        """`anchor_proof`: (anchor slot, blocks JSON from the signer's trusted block on,
        eth_getProof JSON), for a signer that reads its anchor itself."""
        request = pb.RestoreAgentRequest(
            agent_id=agent_id,
            log_verifier_key=log_verifier_key,
            signed_manifest=signed_manifest,
            chunks=[chunk_to_proto(r, d) for r, d in chunks],
            released_shares=list(released_shares),
            anchor=anchor_to_proto(anchor),
        )
        if anchor_proof is not None:
            agent, blocks, proof = anchor_proof
            request.anchor_proof.CopyFrom(
                pb.AnchorProof(agent_address=agent, blocks_json=list(blocks), proof_json=proof)
            )
        response = await self._unary(
            "RestoreAgent",
            lambda stub: stub.RestoreAgent(request, **self._call_options()),
            repeatable=False,
        )
        parts = [(p.kind, bytes(p.plaintext), p.items) for p in response.parts]
        return RestoredAgent(
            agent=convert.agent_from_proto(response.agent),
            parts=parts,
            escrow_shares=[bytes(s) for s in response.escrow_shares],
            handover_entries=[bytes(e) for e in response.handover_entries],
            handover_checkpoint=bytes(response.handover_checkpoint),
        )

    async def check_anchor(
        self, agent_id: str, *, anchor_proof: tuple[bytes, Sequence[bytes], bytes]
    ) -> tuple[AnchorState, int]:
        """Have the signer read the agent's anchor itself (anchor slot, blocks JSON from
        its trusted block on, eth_getProof JSON): the anchored state and the signer's own
        recovery epoch, or AgentFencedHere once the agent was recovered elsewhere."""
        agent, blocks, proof = anchor_proof
        request = pb.CheckAnchorRequest(
            agent_id=agent_id,
            anchor_proof=pb.AnchorProof(
                agent_address=agent, blocks_json=list(blocks), proof_json=proof
            ),
        )
        response = await self._unary(
            "CheckAnchor",
            lambda stub: stub.CheckAnchor(request, **self._call_options()),
            repeatable=True,
        )
        return anchor_from_proto(response.anchored), response.local_epoch
