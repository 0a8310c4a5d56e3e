"""The Signer's recovery operations, transport-agnostic (a later RPC layer wraps them).

Every operation that acts for an agent goes through `get_agent` first, so an agent
this enclave no longer acts for (unknown, refused, fenced by a newer anchor) gets
no sealed chunk, no signed manifest, no anchor update and no escrow from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import coincurve
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from anima_signer.escrow import Guardian, create_escrow
from anima_signer.lifedata import LifeDataSealer
from anima_signer_api.errors import InvalidRequest
from anima_verify.eth import eth_address
from anima_verify.lifedata import AnchorState, ChunkRef, Manifest, SignedManifest
from anima_verify.lifedata.anchor import sign_update

if TYPE_CHECKING:
    from anima_signer.keys import KeyRing
    from anima_signer_api.types import Agent


class RecoveryOperations:
    """Mixed into Signer (anima_signer.core), which provides `_keys` and `get_agent`."""

    _keys: KeyRing

    def get_agent(self, agent_id: str) -> Agent:  # provided by Signer
        raise NotImplementedError

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
        """This signer in the guardian role (its own key, its own challenges)."""
        return Guardian(keyring=self._keys)

    def _anchor_key(self, agent_id: str) -> coincurve.PrivateKey:
        try:
            return self._keys.anchor_key(agent_id)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
