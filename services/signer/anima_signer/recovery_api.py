"""The Signer's recovery operations, transport-agnostic (a later RPC layer wraps them).

Every operation that acts for an agent goes through `get_agent` first, so an agent
this enclave no longer acts for (unknown, refused, fenced by a newer anchor) gets
no sealed chunk, no signed manifest, no anchor update and no escrow from here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import coincurve
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from anima_signer.escrow import EscrowTerms, Guardian, RecoveringEnclave, create_escrow
from anima_signer.fencing import AnchorSource, proven_anchor
from anima_signer.life_restore import (
    AnchorEvidence,
    OpenedPart,
    anchor_address_of,
    encode_log_entries,
    open_life_data,
    verified_chunks,
)
from anima_signer.lifedata import LifeDataSealer
from anima_signer_api.errors import InvalidRequest, LogNotWitnessed
from anima_signer_api.types import LogAppendResult
from anima_verify.attestation.evidence import Evidence
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.eth import eth_address
from anima_verify.lifedata import AnchorState, ChunkRef, Manifest, SignedManifest
from anima_verify.lifedata.anchor import sign_update
from anima_verify.tlog.note import parse_verifier_key

if TYPE_CHECKING:
    from anima_signer.core import Signer
    from anima_signer.keys import KeyRing
    from anima_signer.tee.base import TeeBackend
    from anima_signer_api.types import Agent

_logger = logging.getLogger(__name__)
#: Kinds the host may hand in for sealing; the signer state is only ever the enclave's.
HOST_CHUNK_KINDS = frozenset({"memories", "log", "character", "runtime"})
#: Recoveries begun and not finished, per agent (a new BeginRecovery replaces one).
MAX_OPEN_RECOVERIES = 64


class RecoveryOperations:
    """Mixed into Signer (anima_signer.core), which provides `_keys` and `get_agent`."""

    _keys: KeyRing
    _tee: TeeBackend

    def get_agent(self, agent_id: str) -> Agent:  # provided by Signer
        raise NotImplementedError

    def seal_life_data(
        self,
        agent_id: str,
        *,
        epoch: int,
        parts: Sequence[tuple[str, bytes, int]],
        include_signer_state: bool,
    ) -> list[tuple[ChunkRef, bytes]]:
        """Seal the host's parts (kind, plaintext, items) and, if asked, this enclave's
        own per-agent state: never a signer-state the host made up."""
        for kind, _, _ in parts:
            if kind not in HOST_CHUNK_KINDS:
                raise InvalidRequest(f"part kind {kind!r} is not one of {sorted(HOST_CHUNK_KINDS)}")
        sealed = [
            self.seal_life_chunk(agent_id, kind=k, plaintext=p, items=n, epoch=epoch)
            for k, p, n in parts
        ]
        if include_signer_state:
            state = cast("Signer", self).signer_state_snapshot(agent_id).to_bytes()
            sealed.insert(
                0,
                self.seal_life_chunk(
                    agent_id, kind="signer-state", plaintext=state, items=1, epoch=epoch
                ),
            )
        return sealed

    def seal_life_chunk(
        self, agent_id: str, *, kind: str, plaintext: bytes, items: int, epoch: int
    ) -> tuple[ChunkRef, bytes]:
        self.get_agent(agent_id)
        try:
            return LifeDataSealer(keyring=self._keys).seal_chunk(
                agent_id, kind=kind, plaintext=plaintext, items=items, epoch=epoch
            )
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None

    def sign_manifest(self, manifest: Manifest) -> SignedManifest:
        self.get_agent(manifest.agent_id)
        return LifeDataSealer(keyring=self._keys).sign_manifest(manifest)

    def anchor_address(self, agent_id: str) -> bytes:
        """The agent's anchor key address: its slot in AgentAnchor."""
        self.get_agent(agent_id)
        return bytes.fromhex(eth_address(self._anchor_key(agent_id).public_key)[2:])

    def sign_anchor_update(
        self, agent_id: str, *, state: AnchorState, chain_id: int, contract: bytes
    ) -> tuple[int, bytes, bytes]:
        """(v, r, s) for AgentAnchor.update; the contract checks versions and epochs.

        Only at the epoch this enclave holds the agent at: a host cannot have it sign
        a lower epoch (a rollback the contract refuses anyway) nor a higher one, which
        would fence the enclave that recovered the agent; only a restore moves it."""
        agent = self.anchor_address(agent_id)
        held = cast("Signer", self)._store.recovery_epoch(agent_id)
        if state.epoch != held:
            raise InvalidRequest(
                f"anchor update at recovery epoch {state.epoch}: this enclave holds agent "
                f"{agent_id!r} at epoch {held} and signs updates at that epoch only"
            )
        return sign_update(
            self._anchor_key(agent_id),
            chain_id=chain_id,
            contract=contract,
            agent=agent,
            state=state,
        )

    def escrow_agent_root(
        self,
        agent_id: str,
        *,
        guardians: Sequence[X25519PublicKey],
        threshold: int,
        policy_json: str,
    ) -> list[bytes]:
        """A new escrow (another set of guardians, say); it becomes the agent's latest."""
        self.get_agent(agent_id)
        try:
            self._keys.agent_root(agent_id)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        shares = create_escrow(
            self._keys,
            agent_id=agent_id,
            guardians=guardians,
            threshold=threshold,
            policy_json=policy_json,
        )
        store = cast("Signer", self)._store
        with store.transaction():
            store.save_escrow(agent_id, threshold, shares)
            # The same terms govern a move to a live peer (anima_signer.migration).
            store.put_measurement_policy(agent_id, policy_json)
        return shares

    def use_escrow(self, terms: EscrowTerms | None) -> None:
        """The guardians every agent root is split to at creation and at a restore here."""
        if terms is not None:
            MeasurementPolicy.from_json(terms.policy_json)
        self.__dict__["_escrow_terms"] = terms

    def escrow_at_takeover(self, agent_id: str) -> list[bytes]:
        """Inside the transaction that creates or restores the agent: its root split to
        the configured guardians and kept; [] when none are configured."""
        terms: EscrowTerms | None = self.__dict__.get("_escrow_terms")
        if terms is None:
            return []
        shares = create_escrow(
            self._keys,
            agent_id=agent_id,
            guardians=terms.guardians,
            threshold=terms.threshold,
            policy_json=terms.policy_json,
        )
        store = cast("Signer", self)._store
        store.save_escrow(agent_id, terms.threshold, shares)
        store.put_measurement_policy(agent_id, terms.policy_json)
        return shares

    def latest_escrow(self, agent_id: str) -> tuple[int, list[bytes]]:
        """(threshold, sealed shares) of the agent's latest escrow; (0, []) if none."""
        self.get_agent(agent_id)
        return cast("Signer", self)._store.escrow(agent_id) or (0, [])

    def guardian(self) -> Guardian:
        """This signer in the guardian role (its own key, its own challenges): one per
        signer, so a challenge issued by one call is the one a later release checks."""
        held: Guardian | None = self.__dict__.get("_guardian")
        if held is None:
            held = self.__dict__.setdefault("_guardian", Guardian(keyring=self._keys))
        return held

    def check_anchor(self, agent_id: str, evidence: AnchorEvidence) -> tuple[AnchorState, int]:
        """Read the agent's anchor from a storage proof (the configured source) and act on
        it (Signer.apply_anchor): the anchored state and this enclave's epoch, or
        AgentFencedHere, durably, once the agent was recovered elsewhere."""
        self.get_agent(agent_id)
        source: AnchorSource | None = self.__dict__.get("_anchor_source")
        if source is None:
            raise InvalidRequest(
                "this signer has no anchor configured (anchor_contract, anchor_trusted_block): "
                "it cannot read anchors"
            )
        if evidence.agent != self.anchor_address(agent_id):
            raise InvalidRequest(f"the proof is for another anchor slot than agent {agent_id!r}'s")
        anchored = proven_anchor(
            source, agent=evidence.agent, blocks=evidence.blocks, proof=evidence.proof
        )
        signer = cast("Signer", self)
        signer.apply_anchor(agent_id, anchored)
        return anchored, signer._store.recovery_epoch(agent_id)

    def use_anchor_source(self, source: AnchorSource | None) -> None:
        """Where this enclave reads anchors from (None: it takes the caller's word)."""
        self.__dict__["_anchor_source"] = source

    def _restore_anchor(
        self, anchor: AnchorState | None, proof: AnchorEvidence | None
    ) -> tuple[AnchorState, bytes | None]:
        """The anchored state to restore to, and the anchor slot it was proven at."""
        source: AnchorSource | None = self.__dict__.get("_anchor_source")
        if source is None:
            if anchor is None:
                raise InvalidRequest(
                    "give the anchored state (this signer has no anchor configured)"
                )
            return anchor, None
        if proof is None:
            raise InvalidRequest(
                "this signer restores only from a proven anchor: send the blocks from its "
                "trusted block and the storage proof (anchor_proof)"
            )
        proven = proven_anchor(source, agent=proof.agent, blocks=proof.blocks, proof=proof.proof)
        return proven, proof.agent

    async def begin_recovery(
        self, agent_id: str, *, nonces: Sequence[bytes]
    ) -> tuple[bytes, list[Evidence]]:
        """A fresh recipient key for `agent_id` and evidence binding it to each nonce."""
        recoveries: dict[str, RecoveringEnclave] = self.__dict__.setdefault("_recoveries", {})
        recovering = RecoveringEnclave(tee=self._tee, agent_id=agent_id)
        evidence = [await recovering.evidence_for(n) for n in nonces]
        recoveries.pop(agent_id, None)
        while len(recoveries) >= MAX_OPEN_RECOVERIES:
            recoveries.pop(next(iter(recoveries)))
        recoveries[agent_id] = recovering
        return recovering.recipient, evidence

    def restore_from_life_data(
        self,
        agent_id: str,
        *,
        log_verifier_key: str,
        signed_manifest: bytes,
        chunks: Mapping[str, bytes],
        released_shares: Sequence[bytes],
        anchor: AnchorState | None,
        anchor_proof: AnchorEvidence | None = None,
    ) -> tuple[Agent, list[OpenedPart], LogAppendResult]:
        """Verify the anchored life data and the shares, then restore (all or nothing).
        The recipient key of BeginRecovery is dropped only once the restore succeeded.
        Also the log after the anchored checkpoint (the handover entry), checkpointed."""
        recovering = self.__dict__.get("_recoveries", {}).get(agent_id)
        if recovering is None:
            raise InvalidRequest(f"no recovery begun for agent {agent_id!r}: BeginRecovery first")
        anchor, slot = self._restore_anchor(anchor, anchor_proof)
        verifier = parse_verifier_key(log_verifier_key)
        verified, checked = verified_chunks(
            signed_manifest, chunks, agent_id=agent_id, log_verifier=verifier, anchor=anchor
        )
        root = recovering.agent_root(released_shares, expected_identity=verifier.public_key)
        if slot is not None and slot != anchor_address_of(agent_id, root):
            raise InvalidRequest("the proven anchor slot is not this agent's anchor key")
        opened = open_life_data(
            checked, agent_id=agent_id, agent_root=root, epoch=verified.manifest.epoch
        )
        agent = cast("Signer", self).restore_agent(
            agent_root=root,
            snapshot=opened.snapshot,
            log_entries=opened.log_entries,
            checkpoint=verified.checkpoint.to_bytes(),
            anchor=anchor,
        )
        self.__dict__["_recoveries"].pop(agent_id, None)
        try:
            handover = cast("Signer", self).append_log(agent_id, anchor.checkpoint_size, [])
        except LogNotWitnessed:
            # Restored and committed; the handover entry waits for the witnesses, and the
            # host collects it later (AppendLog) to anchor the handover.
            _logger.warning("agent %s restored; its handover entry is not witnessed yet", agent_id)
            handover = LogAppendResult(
                first_index=anchor.checkpoint_size,
                size=anchor.checkpoint_size,
                entries=(),
                checkpoint=b"",
            )
        # The log too (public data, checked against the anchored checkpoint above): the
        # new node's runtime seeds its log storage with it, since this enclave holds
        # only the frontier and counts the restored entries as stored by the host.
        log = OpenedPart(
            kind="log",
            plaintext=encode_log_entries(opened.log_entries),
            items=len(opened.log_entries),
        )
        return agent, [*opened.host_parts, log], handover

    @staticmethod
    def log_chunk_plaintext(entries: Sequence[bytes]) -> bytes:
        return encode_log_entries(list(entries))

    def _anchor_key(self, agent_id: str) -> coincurve.PrivateKey:
        try:
            return self._keys.anchor_key(agent_id)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
