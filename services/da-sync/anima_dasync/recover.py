"""Recovering an agent into a new enclave over gRPC: guardians' challenges, the new
enclave's evidence for each, k released shares, then RestoreAgent with the anchored
manifest and its chunks. The host only carries bytes: every check that matters is
the guardians' (evidence, policy) and the new enclave's (manifest, chunks, root, log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from anima_dasync.backends.base import DABackend
from anima_dasync.fetch import fetch_verified
from anima_signer_api.client import SignerClient
from anima_signer_api.recovery_client import RestoredAgent
from anima_verify.lifedata import AnchorState
from anima_verify.tlog.note import parse_verifier_key


@dataclass(frozen=True, slots=True)
class GuardianHold:
    """A guardian signer and the sealed share it holds for the agent."""

    client: SignerClient
    sealed_share: bytes


async def recover_agent(
    new: SignerClient,
    guardians: Sequence[GuardianHold],
    *,
    agent_id: str,
    log_verifier_key: str,
    backend: DABackend,
    anchored: AnchorState,
    anchor_proof: tuple[bytes, Sequence[bytes], bytes] | None = None,
) -> RestoredAgent:
    """Restore `agent_id` into the signer `new` from `backend`, as `anchored` (proven by
    the caller from the chain) says; k = len(guardians) shares are asked for."""
    # The host checks first (so a bad backend fails before any guardian is asked);
    # the enclave checks everything again.
    fetched = fetch_verified(
        backend,
        agent_id=agent_id,
        log_verifier=parse_verifier_key(log_verifier_key),
        anchored_version=anchored.version,
        anchored_hash=anchored.manifest_hash,
    )
    nonces = [await g.client.guardian_challenge(agent_id) for g in guardians]
    recipient, evidence = await new.begin_recovery(agent_id, nonces=nonces)
    released = [
        await g.client.release_share(
            agent_id, sealed_share=g.sealed_share, recipient=recipient, evidence=e, nonce=n
        )
        for g, e, n in zip(guardians, evidence, nonces, strict=True)
    ]
    return await new.restore_agent(
        agent_id,
        log_verifier_key=log_verifier_key,
        signed_manifest=backend.get_manifest(agent_id, anchored.version),
        chunks=fetched.chunks,
        released_shares=released,
        anchor=anchored,
        anchor_proof=anchor_proof,
    )
