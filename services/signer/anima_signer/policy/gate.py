"""The owner's policy as the signing path's gate, and accepting a signed document.

OwnerGate judges one request (facts -> engine) and keeps what it found: the
deciding rule and the windows the signature would charge, which the Signer
reserves in the commit that logs the signature (windows.reserve).
"""

from __future__ import annotations

from anima_signer.policy.engine import CompiledPolicy, Decision
from anima_signer.policy.facts import facts, target
from anima_signer.policy.owner import check_owner_signature
from anima_signer.policy.windows import Reservation, charges, spends
from anima_signer_api.errors import PolicyDenied, PolicyRejected
from anima_signer_api.policy_document import parse_document
from anima_signer_api.types import Payload

NO_POLICY = "no_policy"


class CosignNeeded(Exception):
    """The policy allows the request only with the owner's co-signature."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


class OwnerGate:
    """One request's judge; raises PolicyDenied or CosignNeeded, or records the allowing
    decision. `approved`: the owner has co-signed this exact request."""

    def __init__(self, policy: CompiledPolicy | None, *, approved: bool = False) -> None:
        self._policy = policy
        self._approved = approved
        self.decision: Decision | None = None
        self.reservations: list[Reservation] = []

    def judge(self, payload: Payload, chain_id: int | None) -> Decision:
        """The decision without raising (the dry run's answer)."""
        if self._policy is None:
            return Decision(False, NO_POLICY, 0, "the owner has not applied a policy yet")
        variables = facts(payload, chain_id=chain_id)
        decision = self._policy.evaluate(variables, target=target(payload, variables))
        if decision.allowed:
            self.reservations = charges(self._policy.document.windows, spends(payload, variables))
        return decision

    def __call__(self, payload: Payload, chain_id: int | None) -> None:
        decision = self.judge(payload, chain_id)
        if decision.allowed and decision.cosign and not self._approved:
            raise CosignNeeded(decision)
        if not decision.allowed:
            raise PolicyDenied(
                decision.rule, decision.reason, policy_version=decision.policy_version or None
            )
        self.decision = decision


def compile_signed(
    text: str, owner_signature: bytes, *, agent_id: str, owner: str, agent_address: str
) -> CompiledPolicy:
    """A document the owner signed for this agent, parsed and compiled; raises
    PolicyRejected (shape, rules) or PolicyNotOwnerSigned. Versions are checked by
    the caller, inside the transaction that applies it."""
    document = parse_document(text)
    if document.agent_id != agent_id:
        raise PolicyRejected(f"the document is for agent {document.agent_id!r}, not {agent_id!r}")
    check_owner_signature(document, owner_signature, owner=owner, agent_address=agent_address)
    return CompiledPolicy(document)
