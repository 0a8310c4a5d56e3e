"""A guardian's decision, and the recovering enclave's combining of released shares.

The recovering enclave makes a fresh X25519 key and attests with report_data
binding the agent, that key and the guardian's one-time nonce; a guardian
releases its share, encrypted to that key, only when the evidence satisfies the
measurement policy sealed inside the share. So neither the host relaying the
messages nor an enclave outside the policy ever sees a share.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from anima_verify.attestation.evidence import Evidence, bind_report_data
from anima_verify.attestation.policy import verify_evidence
from anima_verify.escrow.errors import BelowThreshold, EscrowShareRefused
from anima_verify.escrow.shamir import combine_shares
from anima_verify.escrow.share import (
    EscrowShare,
    open_as_guardian,
    open_released,
    public_bytes,
    seal_to_recovering_enclave,
)

_REQUEST_DOMAIN = b"anima/escrow/recovery-request/v1"


def recovery_report_data(*, agent_id: str, recipient: X25519PublicKey, nonce: bytes) -> bytes:
    """What a recovering enclave's evidence must carry as report_data."""
    bound = _REQUEST_DOMAIN + len(agent_id).to_bytes(2, "big") + agent_id.encode()
    return bind_report_data(bound_keys=bound, tls_public_key=public_bytes(recipient), nonce=nonce)


def release_share(
    sealed_share: bytes,
    *,
    guardian_key: X25519PrivateKey,
    agent_id: str,
    recipient: X25519PublicKey,
    evidence: Evidence,
    nonce: bytes,
    now: int | None = None,
) -> bytes:
    """The guardian's share re-sealed to `recipient`, or the attestation error that says
    why the requesting enclave is refused (outside the agent's policy, not fresh, forged).

    `nonce` is the one-time challenge this guardian issued for this request.
    """
    share = open_as_guardian(sealed_share, guardian_key, agent_id=agent_id)
    expected = recovery_report_data(agent_id=agent_id, recipient=recipient, nonce=nonce)
    verify_evidence(evidence, expected_report_data=expected, policy=share.policy(), now=now)
    return seal_to_recovering_enclave(share, recipient)


def combine_released(
    released: Sequence[bytes], *, recipient_key: X25519PrivateKey, agent_id: str
) -> tuple[bytes, EscrowShare]:
    """The agent root from released shares, and one share (for its identity and terms).

    Every share must open, name the agent and come from one escrow; the caller then
    checks the root derives `identity` (RecoveredRootMismatch otherwise).
    """
    if not released:
        raise BelowThreshold(have=0, threshold=1)
    opened = [open_released(r, recipient_key, agent_id=agent_id) for r in released]
    first = opened[0]
    for share in opened[1:]:
        if (share.escrow_id, share.threshold, share.identity) != (
            first.escrow_id,
            first.threshold,
            first.identity,
        ):
            raise EscrowShareRefused("the released shares come from different escrows")
    distinct = list({s.share.index: s.share for s in opened}.values())
    if len(distinct) < first.threshold:
        raise BelowThreshold(have=len(distinct), threshold=first.threshold)
    return combine_shares(distinct, threshold=first.threshold), first
