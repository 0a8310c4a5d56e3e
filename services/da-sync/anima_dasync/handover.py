"""The handover after an agent moved into another enclave (a restore from guardians
today; a live peer migration uses the same step): the new enclave publishes the next
manifest at the next recovery epoch, whose log holds its `agent_recovered` entry, and
signs the anchor update that moves the epoch on chain. Once that update is relayed,
an old enclave that reads the anchor (CheckAnchor) stops signing for the agent.

The new enclave signs anchor updates only at the epoch it took the agent over at, so
the host can neither fence it with a higher epoch nor roll the epoch back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from anima_dasync.backends.base import DABackend
from anima_dasync.sync import SyncState, sync_agent
from anima_signer_api.client import SignerClient
from anima_verify.errors import AnimaError, ErrorKind
from anima_verify.lifedata import AnchorState, parse_signed_manifest


class HandoverNotReady(AnimaError):
    """The new enclave's handover entry is not in a releasable checkpoint yet."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "HANDOVER_NOT_READY"


@dataclass(frozen=True, slots=True)
class SignedHandover:
    """The anchor update that bumps the epoch, signed by the new enclave's anchor key."""

    state: AnchorState
    agent: bytes  # the agent's anchor slot (its anchor key's address)
    signature: tuple[int, bytes, bytes]  # (v, r, s) for AgentAnchor.update


async def publish_handover(
    signer: SignerClient,
    agent_id: str,
    *,
    backend: DABackend,
    anchored: AnchorState,
    handover_entries: Sequence[bytes],
    handover_checkpoint: bytes,
    chain_id: int,
    contract: bytes,
) -> SignedHandover:
    """Publish the manifest after `anchored` (the state the agent was restored from) at
    epoch anchored.epoch + 1 with the handover entries, and have `signer` (the enclave
    that now holds the agent; caller dasync or admin) sign its anchor update."""
    if not handover_checkpoint:
        raise HandoverNotReady(
            f"the handover entry of agent {agent_id!r} has no witnessed checkpoint yet: "
            "collect it with AppendLog once the witnesses cosigned it, then anchor"
        )
    previous = parse_signed_manifest(backend.get_manifest(agent_id, anchored.version)).manifest
    state = SyncState(manifest=previous, log_size=anchored.checkpoint_size)
    bumped = await sync_agent(
        signer,
        agent_id,
        backend=backend,
        state=state,
        epoch=anchored.epoch + 1,
        log_entries=handover_entries,
        checkpoint=handover_checkpoint,
    )
    agent, signature = await signer.sign_anchor_update(
        agent_id, state=bumped, chain_id=chain_id, contract=contract
    )
    return SignedHandover(state=bumped, agent=agent, signature=signature)
