"""The gRPC face of peer migration (mixed into SignerServicer): convert, call the core
(anima_signer.migration), convert back. Export and import seal, open and commit
durably, so they run off the event loop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from anima.signer.v1 import signer_pb2 as pb
from anima_signer.core import Signer
from anima_signer_api import convert
from anima_signer_api.recovery_convert import evidence_from_proto, evidence_to_proto

if TYPE_CHECKING:
    from anima_core.interceptors import Context


def migration_access(*, admin: str, recovery: str) -> dict[str, frozenset[str]]:
    """Who may call the migration RPCs (method name -> roles): never the runtime."""
    roles = frozenset({admin, recovery})
    return {"MigrationChallenge": roles, "ExportAgent": roles, "ImportAgent": roles}


class MigrationServicer:
    _signer: Signer

    async def MigrationChallenge(
        self, request: pb.MigrationChallengeRequest, context: Context
    ) -> pb.MigrationChallengeResponse:
        challenge, recipient, evidence = await self._signer.migration_challenge(request.agent_id)
        return pb.MigrationChallengeResponse(
            challenge=challenge, recipient=recipient, evidence=evidence_to_proto(evidence)
        )

    async def ExportAgent(
        self, request: pb.ExportAgentRequest, context: Context
    ) -> pb.ExportAgentResponse:
        envelope, size = await asyncio.to_thread(
            self._signer.export_agent,
            request.agent_id,
            challenge=request.challenge,
            recipient=request.recipient,
            evidence=evidence_from_proto(request.evidence),
        )
        return pb.ExportAgentResponse(envelope=envelope, log_size=size)

    async def ImportAgent(
        self, request: pb.ImportAgentRequest, context: Context
    ) -> pb.ImportAgentResponse:
        agent, size, handover = await asyncio.to_thread(
            self._signer.import_agent,
            request.agent_id,
            log_verifier_key=request.log_verifier_key,
            envelope=request.envelope,
        )
        return pb.ImportAgentResponse(
            agent=convert.agent_to_proto(agent),
            log_size=size,
            handover_entries=[e.entry for e in handover.entries],
            handover_checkpoint=handover.checkpoint,
            # The entries run from the source's collected size to handover.size.
            handover_first_index=handover.size - len(handover.entries),
        )
