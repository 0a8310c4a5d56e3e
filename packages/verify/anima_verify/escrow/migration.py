"""Peer migration: a live enclave hands an agent root to a peer enclave. Pure: no I/O.

The destination makes a fresh X25519 key and a challenge (its issue time and 24
random bytes) and attests with report_data binding the agent, that key and the
challenge. The source checks that evidence against the agent's measurement
policy, and the challenge's age on its own clock, before it seals anything to
the key (HPKE, the suite of the guardian path: anima_verify.escrow.share). The
HPKE info binds agent, key and challenge, so an envelope opens only for the one
challenge it was made for. HPKE base mode does not say who sealed: the
destination trusts the contents because the root inside derives the agent's
known log key, which only a holder of the root can produce.
"""

from __future__ import annotations

import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from anima_verify.attestation.evidence import Evidence, bind_report_data
from anima_verify.attestation.policy import MeasurementPolicy, verify_evidence
from anima_verify.attestation.tdx import VerifiedQuote
from anima_verify.escrow.errors import MigrationRefused
from anima_verify.escrow.share import SUITE, public_bytes

CHALLENGE_SIZE = 32
#: How long a destination's challenge stays good: one export and import, with room for
#: a slow operator; the source's and destination's clocks may differ by CLOCK_SKEW_MS.
CHALLENGE_TTL_MS = 10 * 60 * 1000
CLOCK_SKEW_MS = 2 * 60 * 1000
_ISSUED = struct.Struct(">Q")
_REQUEST_DOMAIN = b"anima/migration/destination/v1"
_ENVELOPE_INFO = b"anima/migration/agent-to-peer/v1\x00"


def new_challenge(now_ms: int) -> bytes:
    """The destination's one-time challenge: its issue time, then 24 random bytes."""
    return _ISSUED.pack(now_ms) + secrets.token_bytes(CHALLENGE_SIZE - _ISSUED.size)


def check_challenge_fresh(challenge: bytes, *, now_ms: int) -> None:
    """MigrationRefused unless the challenge was issued within CHALLENGE_TTL_MS."""
    if len(challenge) != CHALLENGE_SIZE:
        raise MigrationRefused(f"a migration challenge is {CHALLENGE_SIZE} bytes")
    (issued_ms,) = _ISSUED.unpack_from(challenge)
    if issued_ms > now_ms + CLOCK_SKEW_MS:
        raise MigrationRefused("the migration challenge is dated in the future: ask for a new one")
    if now_ms - issued_ms > CHALLENGE_TTL_MS:
        raise MigrationRefused(
            f"the migration challenge is {(now_ms - issued_ms) // 1000} s old, above "
            f"{CHALLENGE_TTL_MS // 1000} s: ask the destination for a new one"
        )


def migration_report_data(*, agent_id: str, recipient: X25519PublicKey, challenge: bytes) -> bytes:
    """What the destination's evidence must carry as report_data."""
    bound = _REQUEST_DOMAIN + len(agent_id).to_bytes(2, "big") + agent_id.encode()
    return bind_report_data(
        bound_keys=bound, tls_public_key=public_bytes(recipient), nonce=challenge
    )


def verify_destination(
    evidence: Evidence,
    *,
    agent_id: str,
    recipient: X25519PublicKey,
    challenge: bytes,
    policy: MeasurementPolicy,
    now_ms: int,
    now: int | None = None,
) -> VerifiedQuote:
    """The destination's verified quote, or why it may not receive the agent: a stale
    challenge, evidence outside the policy (simulated evidence unless the policy allows
    it), or evidence that binds another key, agent or challenge (`now`: seconds, for
    the collateral window of TDX quotes)."""
    check_challenge_fresh(challenge, now_ms=now_ms)
    expected = migration_report_data(agent_id=agent_id, recipient=recipient, challenge=challenge)
    return verify_evidence(evidence, expected_report_data=expected, policy=policy, now=now)


def _info(agent_id: str, recipient: X25519PublicKey, challenge: bytes) -> bytes:
    return _ENVELOPE_INFO + agent_id.encode() + b"\x00" + public_bytes(recipient) + challenge


def seal_to_destination(
    plaintext: bytes, *, agent_id: str, recipient: X25519PublicKey, challenge: bytes
) -> bytes:
    return SUITE.encrypt(plaintext, recipient, _info(agent_id, recipient, challenge))


def open_at_destination(
    envelope: bytes, *, agent_id: str, recipient_key: X25519PrivateKey, challenge: bytes
) -> bytes:
    info = _info(agent_id, recipient_key.public_key(), challenge)
    try:
        return SUITE.decrypt(envelope, recipient_key, info)
    except (InvalidTag, ValueError):
        raise MigrationRefused(
            f"the migration envelope does not open for agent {agent_id!r} and this "
            "signer's open challenge: sealed for another agent, key or challenge, or altered"
        ) from None
