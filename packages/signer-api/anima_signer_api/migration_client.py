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
    ) -> tuple[Agent, int]:
        """(the agent as installed here, its log size after the import entry)."""
        request = pb.ImportAgentRequest(
            agent_id=agent_id, log_verifier_key=log_verifier_key, envelope=envelope
        )
        response = await self._unary(
            "ImportAgent",
            lambda stub: stub.ImportAgent(request, **self._call_options()),
            repeatable=False,
        )
        return convert.agent_from_proto(response.agent), response.log_size
