"""Guardian escrow inside the enclave: split an agent root to guardians, act as a
guardian for other agents, and rebuild a root as a recovering enclave.

The checks a guardian applies and the share format are pure and public
(anima_verify.escrow), so owner-held guardian tools apply the same rules.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from anima_signer.keys import KeyRing, agent_log_public_key
from anima_signer.tee.base import TeeBackend
from anima_signer_api.errors import InvalidRequest
from anima_verify.attestation.evidence import MIN_NONCE_SIZE, Evidence
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.escrow import (
    EscrowShare,
    EscrowShareRefused,
    RecoveredRootMismatch,
    combine_released,
    recovery_report_data,
    release_share,
    seal_to_guardian,
    split_secret,
)
from anima_verify.escrow.share import public_bytes

#: Outstanding guardian challenges; an old one is dropped first (a request is quick).
MAX_OPEN_CHALLENGES = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class EscrowTerms:
    """The guardians a signer splits every agent root to, at creation and when it takes
    an agent over (configuration: SignerConfig.escrow)."""

    guardians: tuple[X25519PublicKey, ...]
    threshold: int
    policy_json: str  # the measurement policy a recovering enclave must satisfy


def create_escrow(
    keyring: KeyRing,
    *,
    agent_id: str,
    guardians: Sequence[X25519PublicKey],
    threshold: int,
    policy_json: str,
) -> list[bytes]:
    """One sealed share per guardian (in order); the agent root never leaves in clear."""
    if not 1 <= threshold <= len(guardians):
        raise InvalidRequest(f"threshold must be between 1 and the {len(guardians)} guardians")
    if len({public_bytes(g) for g in guardians}) != len(guardians):
        raise InvalidRequest("each guardian key may hold one share only")
    MeasurementPolicy.from_json(policy_json)  # the terms must parse before anything is sealed
    root = keyring.agent_root(agent_id)
    escrow_id = secrets.token_hex(16)
    identity = agent_log_public_key(agent_id, root)
    parts = split_secret(root, threshold=threshold, shares=len(guardians))
    return [
        seal_to_guardian(
            EscrowShare(
                agent_id=agent_id,
                escrow_id=escrow_id,
                share=part,
                threshold=threshold,
                shares=len(guardians),
                policy_json=policy_json,
                identity=identity,
            ),
            guardian,
        )
        for part, guardian in zip(parts, guardians, strict=True)
    ]


class Guardian:
    """A signer in the guardian role: releases a share it holds only to an enclave whose
    fresh evidence satisfies the agent's policy (sealed in the share itself)."""

    def __init__(self, *, keyring: KeyRing) -> None:
        self._key = keyring.guardian_key()
        self._challenges: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def public_key(self) -> X25519PublicKey:
        return self._key.public_key()

    def challenge(self, agent_id: str) -> bytes:
        """A one-time nonce the recovering enclave must bind in its evidence."""
        nonce = secrets.token_bytes(32)
        with self._lock:
            while len(self._challenges) >= MAX_OPEN_CHALLENGES:
                self._challenges.pop(next(iter(self._challenges)))
            self._challenges[nonce] = agent_id
        return nonce

    def release(
        self,
        sealed_share: bytes,
        *,
        agent_id: str,
        recipient: bytes,
        evidence: Evidence,
        nonce: bytes,
        now: int | None = None,
    ) -> bytes:
        with self._lock:
            issued_for = self._challenges.pop(nonce, None)
        if issued_for != agent_id:
            raise EscrowShareRefused(
                "the nonce is not a challenge this guardian issued for this agent, or was "
                "already used: ask for a fresh challenge"
            )
        try:
            recipient_key = X25519PublicKey.from_public_bytes(recipient)
        except ValueError:
            raise InvalidRequest("recipient must be a 32-byte X25519 public key") from None
        return release_share(
            sealed_share,
            guardian_key=self._key,
            agent_id=agent_id,
            recipient=recipient_key,
            evidence=evidence,
            nonce=nonce,
            now=now,
        )


class RecoveringEnclave:
    """The new enclave's side: a fresh key bound in its evidence, the shares combined
    and the result checked against the agent's identity before anyone uses it."""

    def __init__(self, *, tee: TeeBackend, agent_id: str) -> None:
        self._tee = tee
        self._agent_id = agent_id
        self._key = X25519PrivateKey.generate()

    @property
    def recipient(self) -> bytes:
        return public_bytes(self._key.public_key())

    async def evidence_for(self, nonce: bytes) -> Evidence:
        if len(nonce) < MIN_NONCE_SIZE:
            raise InvalidRequest(f"a guardian nonce is at least {MIN_NONCE_SIZE} bytes")
        report_data = recovery_report_data(
            agent_id=self._agent_id, recipient=self._key.public_key(), nonce=nonce
        )
        return await self._tee.attest(report_data)

    def agent_root(self, released: Sequence[bytes], *, expected_identity: bytes) -> bytes:
        """The agent root, once k released shares combine to one that derives the agent's
        log key (`expected_identity`, from the anchored manifest or the owner)."""
        root, share = combine_released(released, recipient_key=self._key, agent_id=self._agent_id)
        derived = agent_log_public_key(self._agent_id, root)
        if derived != share.identity or derived != expected_identity:
            raise RecoveredRootMismatch(
                f"the released shares do not rebuild the root of agent {self._agent_id!r}: "
                "its log key differs; a guardian released a wrong share"
            )
        return root
