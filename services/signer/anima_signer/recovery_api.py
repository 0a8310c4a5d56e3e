"""The Signer's recovery operations, transport-agnostic (a later RPC layer wraps them).

Every operation that acts for an agent goes through `get_agent` first, so an agent
this enclave no longer acts for (unknown, refused, fenced by a newer anchor) gets
no sealed chunk, no signed manifest, no anchor update and no escrow from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import coincurve
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from anima_signer.escrow import Guardian, RecoveringEnclave, create_escrow
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
from anima_signer_api.errors import InvalidRequest
from anima_verify.attestation.evidence import Evidence
from anima_verify.eth import eth_address
from anima_verify.lifedata import AnchorState, ChunkRef, Manifest, SignedManifest
from anima_verify.lifedata.anchor import sign_update
from anima_verify.tlog.note import parse_verifier_key

if TYPE_CHECKING:
    from anima_signer.core import Signer
    from anima_signer.keys import KeyRing
    from anima_signer.tee.base import TeeBackend
    from anima_signer_api.types import Agent

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
        """(v, r, s) for AgentAnchor.update; the contract checks versions and epochs."""
        agent = self.anchor_address(agent_id)
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
        self.get_agent(agent_id)
        try:
            self._keys.agent_root(agent_id)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        return create_escrow(
            self._keys,
            agent_id=agent_id,
            guardians=guardians,
            threshold=threshold,
            policy_json=policy_json,
        )

    def guardian(self) -> Guardian:
        """This signer in the guardian role (its own key, its own challenges): one per
        signer, so a challenge issued by one call is the one a later release checks."""
        held: Guardian | None = self.__dict__.get("_guardian")
        if held is None:
            held = self.__dict__.setdefault("_guardian", Guardian(keyring=self._keys))
        return held

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
    ) -> tuple[Agent, list[OpenedPart]]:
        """Verify the anchored life data and the shares, then restore (all or nothing).
        The recipient key of BeginRecovery is dropped only once the restore succeeded."""
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
        # The log too (public data, checked against the anchored checkpoint above): the
        # new node's runtime seeds its log storage with it, since this enclave holds
        # only the frontier and counts the restored entries as stored by the host.
        log = OpenedPart(
            kind="log",
            plaintext=encode_log_entries(opened.log_entries),
            items=len(opened.log_entries),
        )
        return agent, [*opened.host_parts, log]

    @staticmethod
    def log_chunk_plaintext(entries: Sequence[bytes]) -> bytes:
        return encode_log_entries(list(entries))

    def _anchor_key(self, agent_id: str) -> coincurve.PrivateKey:
        try:
            return self._keys.anchor_key(agent_id)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
