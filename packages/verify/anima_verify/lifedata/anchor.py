"""The on-chain anchor (contracts/AgentAnchor.sol), read from a storage proof.

Pure: the caller verifies a header chain from a trusted checkpoint
(anima_verify.chain.header) and hands over the verified state root and the node's
eth_getProof answer; nothing the node says is taken without its proof.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import coincurve
from eth_utils.crypto import keccak

from anima_verify.chain import _fields
from anima_verify.chain.errors import MalformedChainData
from anima_verify.chain.proofs import verify_account_proof, verify_storage_proof
from anima_verify.lifedata.errors import AgentFenced, AnchorNotFound, SignerStateStale

#: AgentAnchor.UPDATE_TAG
UPDATE_TAG = keccak(b"anima/agent-anchor/update/v1")
ANCHORS_SLOT = 0  # `anchors` is the contract's first state variable
_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorState:
    manifest_hash: bytes
    checkpoint_root: bytes
    version: int
    checkpoint_size: int
    epoch: int

    def abi_tuple(self) -> tuple[bytes, bytes, int, int, int]:
        return (
            self.manifest_hash,
            self.checkpoint_root,
            self.version,
            self.checkpoint_size,
            self.epoch,
        )


def anchor_slots(agent: bytes) -> list[int]:
    """The three storage slots of anchors[agent] (two hashes, then the packed uint64s)."""
    if len(agent) != 20:
        raise MalformedChainData("an agent's anchor address is 20 bytes")
    base = int.from_bytes(keccak(agent.rjust(32, b"\0") + ANCHORS_SLOT.to_bytes(32, "big")), "big")
    return [base, base + 1, base + 2]


def update_digest(*, chain_id: int, contract: bytes, agent: bytes, state: AnchorState) -> bytes:
    """AgentAnchor.updateDigest: what the agent's anchor key signs."""
    words = [
        UPDATE_TAG,
        chain_id.to_bytes(32, "big"),
        contract.rjust(32, b"\0"),
        agent.rjust(32, b"\0"),
        state.manifest_hash,
        state.checkpoint_root,
        state.version.to_bytes(32, "big"),
        state.checkpoint_size.to_bytes(32, "big"),
        state.epoch.to_bytes(32, "big"),
    ]
    return keccak(b"".join(words))


def sign_update(
    key: coincurve.PrivateKey, *, chain_id: int, contract: bytes, agent: bytes, state: AnchorState
) -> tuple[int, bytes, bytes]:
    """(v, r, s) for AgentAnchor.update; used inside the enclave with its anchor key."""
    digest = update_digest(chain_id=chain_id, contract=contract, agent=agent, state=state)
    signature = key.sign_recoverable(digest, hasher=None)
    return 27 + signature[64], signature[:32], signature[32:64]


def verify_anchor(
    state_root: bytes, *, contract: bytes, agent: bytes, eip1186_response: Mapping[str, Any]
) -> AnchorState:
    """The agent's anchor under a verified state root; AnchorNotFound when it has none."""
    account = verify_account_proof(state_root, contract, eip1186_response)
    slots = anchor_slots(agent)
    entries = _fields.sequence(
        _fields.field(eip1186_response, "storageProof", "eth_getProof result"), "storageProof"
    )
    if len(entries) != len(slots):
        raise MalformedChainData(
            f"the anchor needs {len(slots)} storage proofs, got {len(entries)}"
        )
    words = [
        verify_storage_proof(account.storage_root, slot, entry)
        for slot, entry in zip(slots, entries, strict=True)
    ]
    packed = words[2]
    state = AnchorState(
        manifest_hash=words[0].to_bytes(32, "big"),
        checkpoint_root=words[1].to_bytes(32, "big"),
        version=packed & _U64,
        checkpoint_size=(packed >> 64) & _U64,
        epoch=(packed >> 128) & _U64,
    )
    if state.version == 0:
        raise AnchorNotFound(f"no anchor for agent key 0x{agent.hex()} at 0x{contract.hex()}")
    return state


def check_fencing(anchor: AnchorState, *, local_epoch: int, local_log_size: int) -> None:
    """May an enclave at `local_epoch` with a log of `local_log_size` keep signing?"""
    if anchor.epoch > local_epoch:
        raise AgentFenced(
            f"the anchor's recovery epoch is {anchor.epoch}, this enclave's is {local_epoch}: the "
            "agent was recovered elsewhere; this enclave no longer signs for it"
        )
    if local_log_size < anchor.checkpoint_size:
        raise SignerStateStale(
            f"this signer's log has {local_log_size} entries, the anchored checkpoint "
            f"{anchor.checkpoint_size}: its state is older than the anchor; restore first"
        )
