"""SignerClient's peer-migration calls (mixed into SignerClient).

ExportAgent is sent again after a lost connection: the source answers the same
request with the same envelope, so a lost answer is never a lost agent. An import
commits, so it is not sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from anima.signer.v1 import signer_pb2 as pb
from anima_signer_api import convert
from anima_signer_api.recovery_convert import evidence_from_proto, evidence_to_proto
from anima_signer_api.types import Agent
from anima_verify.attestation.evidence import Evidence

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MigrationChallenge:
    """The destination's one-time challenge and the evidence binding its fresh key."""

    challenge: bytes
    recipient: bytes
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ImportedAgent:
    """The agent as installed at the destination, and its handover to anchor: the log
    from `handover_first_index` (the source's last collected entry) with a checkpoint
    holding it (empty until witnesses cosign it), for anima_dasync.handover."""

    agent: Agent
    log_size: int  # after the import entry
    handover_entries: list[bytes]
    handover_checkpoint: bytes
    handover_first_index: int


class MigrationCalls:
    """Provided by SignerClient: `_unary` and `_call_options`."""

    def _call_options(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _unary(
        self, method: str, send: Callable[[Any], Awaitable[T]], *, repeatable: bool
    ) -> T:
        raise NotImplementedError

    async def migration_challenge(self, agent_id: str) -> MigrationChallenge:
        request = pb.MigrationChallengeRequest(agent_id=agent_id)
        response = await self._unary(
            "MigrationChallenge",
            lambda stub: stub.MigrationChallenge(request, **self._call_options()),
            repeatable=True,  # a new challenge replaces the agent's open one
        )
        return MigrationChallenge(
            challenge=bytes(response.challenge),
            recipient=bytes(response.recipient),
            evidence=evidence_from_proto(response.evidence),
        )

    async def export_agent(
        self, agent_id: str, *, challenge: bytes, recipient: bytes, evidence: Evidence
    ) -> tuple[bytes, int]:
        """(envelope sealed to the destination, log size after the handover entry)."""
        request = pb.ExportAgentRequest(
            agent_id=agent_id,
            challenge=challenge,
            recipient=recipient,
            evidence=evidence_to_proto(evidence),
        )
        response = await self._unary(
            "ExportAgent",
            lambda stub: stub.ExportAgent(request, **self._call_options()),
            repeatable=True,  # the same request gets the same envelope
        )
        return bytes(response.envelope), response.log_size

    async def import_agent(
        self, agent_id: str, *, log_verifier_key: str, envelope: bytes
    ) -> ImportedAgent:
        request = pb.ImportAgentRequest(
            agent_id=agent_id, log_verifier_key=log_verifier_key, envelope=envelope
        )
        response = await self._unary(
            "ImportAgent",
            lambda stub: stub.ImportAgent(request, **self._call_options()),
            repeatable=False,
        )
        return ImportedAgent(
            agent=convert.agent_from_proto(response.agent),
            log_size=response.log_size,
            handover_entries=[bytes(e) for e in response.handover_entries],
            handover_checkpoint=bytes(response.handover_checkpoint),
            handover_first_index=response.handover_first_index,
        )
