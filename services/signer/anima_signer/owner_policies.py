"""The owner's side of the Signer: applying signed policies, showing them, dry runs,
and co-signatures. A mixin of core.Signer, split out to keep each module small; the
signing path that enforces the policy stays in core.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from anima_signer import log_payloads
from anima_signer.keys import KeyRing
from anima_signer.policy import windows
from anima_signer.policy.approvals import check_owner_approval, payload_from_json
from anima_signer.policy.engine import CompiledPolicy
from anima_signer.policy.gate import CosignNeeded, OwnerGate, compile_signed
from anima_signer.sequencer import EnclaveLogs
from anima_signer.signing import minimal_gate_for, sign_payload
from anima_signer.store import SignerStore, StoredPolicy
from anima_signer_api.errors import (
    ApprovalUnavailable,
    PolicyDenied,
    PolicyNotOwnerSigned,
    PolicyVersionStale,
    SignerError,
)
from anima_signer_api.policy_document import parse_document
from anima_signer_api.types import (
    Agent,
    Payload,
    PendingApproval,
    PolicyExplanation,
    PolicyStatus,
    SignRequest,
    SignResult,
)
from anima_verify.tlog.entry import EntryKind


class _JudgedOnly(Exception):
    """Raised by a dry run's gate once the request is judged, so nothing is signed."""


class OwnerPolicies:
    """What the owner does through the Signer; core.Signer provides the state."""

    _store: SignerStore
    _log: EnclaveLogs
    _keys: KeyRing
    _clock_ms: Callable[[], int]
    _owner_policies: dict[str, CompiledPolicy | None]

    def get_agent(self, agent_id: str) -> Agent:  # pragma: no cover - core.Signer's
        raise NotImplementedError

    def _sign_and_log(
        self, requests: Sequence[SignRequest], *, approval: str = ""
    ) -> list[SignResult | SignerError]:  # pragma: no cover - core.Signer's
        raise NotImplementedError

    def _owner_policy(self, agent: Agent) -> CompiledPolicy | None:
        if agent.agent_id in self._owner_policies:
            return self._owner_policies[agent.agent_id]
        stored = self._store.active_policy(agent.agent_id)
        compiled = None
        if stored is not None:
            # Accepted once already: its signature was checked when it was applied.
            compiled = CompiledPolicy(parse_document(stored.document))
        self._owner_policies[agent.agent_id] = compiled
        return compiled

    def apply_policy(self, agent_id: str, document: str, owner_signature: bytes) -> PolicyStatus:
        """Make an owner-signed document the agent's policy, if its version is higher.

        The change and its log entry commit together; the active policy stays as it
        was on any refusal (PolicyRejected, PolicyNotOwnerSigned, PolicyVersionStale).
        """
        agent = self.get_agent(agent_id)
        if not agent.owner:
            raise PolicyNotOwnerSigned(
                f"agent {agent_id!r} has no owner: its minimal policy was fixed at creation"
            )
        compiled = compile_signed(
            document,
            owner_signature,
            agent_id=agent_id,
            owner=agent.owner,
            agent_address=agent.wallets[0].address,
        )
        now_ms = self._clock_ms()

        def publish() -> None:
            self._owner_policies[agent_id] = compiled

        with self._log.batch() as batch:
            active = self._store.active_policy(agent_id)
            active_version = active.version if active is not None else 0
            if compiled.version <= active_version:
                raise PolicyVersionStale(compiled.version, active_version)
            self._store.add_policy(
                StoredPolicy(agent_id, compiled.version, document, owner_signature, now_ms)
            )
            batch.append_enclave(
                agent_id,
                EntryKind.LIFECYCLE,
                log_payloads.policy_applied(
                    agent_id=agent_id,
                    owner=agent.owner,
                    version=compiled.version,
                    document=document,
                    owner_signature=owner_signature,
                ),
            )
            self._store.on_commit(publish)
        return self.get_policy(agent_id)

    def _approval_open(self, agent_id: str, approval: str) -> bool:
        open_ = self._store.approvals(agent_id, open_at_ms=self._clock_ms())
        return any(a.approval_id == approval for a in open_)

    def pending_approvals(self, agent_id: str) -> list[PendingApproval]:
        """Requests waiting for the owner's co-signature (open: unused, unexpired)."""
        self.get_agent(agent_id)
        return [
            PendingApproval(
                approval_id=r.approval_id,
                agent_id=r.agent_id,
                request_hash=r.request_hash,
                payload=payload_from_json(r.payload_json),
                rule=r.rule,
                policy_version=r.policy_version,
                created_ms=r.created_ms,
                expires_ms=r.expires_ms,
            )
            for r in self._store.approvals(agent_id, open_at_ms=self._clock_ms())
        ]

    def approve(self, agent_id: str, approval: str, owner_signature: bytes) -> SignResult:
        """Sign a waiting request with the owner's co-signature (approval_typed_data).

        The request is judged again under the active policy and its windows; the
        approval is used up in the commit that logs the signature, so it signs once.
        """
        agent = self.get_agent(agent_id)
        record = self._store.approval(agent_id, approval) if agent.owner else None
        if record is None:
            raise ApprovalUnavailable(approval, "does not exist")
        if record.used_ms is not None:
            raise ApprovalUnavailable(approval, "was used already: an approval signs once")
        if record.expires_ms <= self._clock_ms():
            raise ApprovalUnavailable(approval, "has expired")
        check_owner_approval(
            owner_signature,
            owner=agent.owner,
            agent_id=agent_id,
            agent_address=agent.wallets[0].address,
            approval=approval,
            request_hash=record.request_hash,
        )
        request = SignRequest(agent_id, payload_from_json(record.payload_json))
        outcome = self._sign_and_log([request], approval=approval)[0]
        if isinstance(outcome, SignerError):
            raise outcome
        return outcome

    def get_policy(self, agent_id: str) -> PolicyStatus:
        agent = self.get_agent(agent_id)
        stored = self._store.active_policy(agent_id) if agent.owner else None
        if stored is None:
            return PolicyStatus(agent_id, agent.owner, 0, "", b"")
        return PolicyStatus(
            agent_id, agent.owner, stored.version, stored.document, stored.owner_signature
        )

    def explain(self, request: SignRequest) -> PolicyExplanation:
        """A dry run: the decision on `request` and the rule that makes it, without
        signing, logging or charging; window limits are read as they stand now."""
        agent = self.get_agent(request.agent_id)
        policy = self._owner_policy(agent) if agent.owner else None
        gate = OwnerGate(policy)
        judge = gate if agent.owner else minimal_gate_for(agent)

        def dry(payload: Payload, chain_id: int | None) -> None:
            judge(payload, chain_id)
            raise _JudgedOnly  # validated and judged: never signed

        try:
            sign_payload(self._keys, agent, request, dry)
        except _JudgedOnly:
            pass
        except PolicyDenied as denied:
            version = int(denied.policy_version or 0)
            return PolicyExplanation(False, denied.rule, version, denied.message)
        except CosignNeeded as needed:
            found = needed.decision
            reason = f"allow rule {found.rule} holds, with the owner's co-signature only"
            return PolicyExplanation(False, found.rule, found.policy_version, reason)
        if policy is None or gate.decision is None:  # the minimal gate allowed it
            return PolicyExplanation(True, "minimal_gate", 0, "the minimal gate allows it")
        try:
            now_ms = self._clock_ms()
            with self._store.transaction():  # expiring old charges writes
                windows.Ledger(self._store, now_ms).check(agent.agent_id, policy, gate.reservations)
        except PolicyDenied as denied:
            return PolicyExplanation(False, denied.rule, policy.version, denied.message)
        found = gate.decision
        return PolicyExplanation(True, found.rule, found.policy_version, found.reason)
