"""The canonical bytes of an agent's public keys, bound into attestation evidence.

Enclave and verifier both compute it from the Agent they see; a verifier that
gets the same bytes knows the keys it was shown are the ones the quote covers.
"""

from __future__ import annotations

import json

from anima_signer_api.types import Agent

BINDING_VERSION = 1


def bound_keys(agent: Agent | None) -> bytes:
    """Canonical JSON of the agent's public keys; empty when only the channel is attested."""
    if agent is None:
        return b""
    document = {
        "v": BINDING_VERSION,
        "agent_id": agent.agent_id,
        "key_derivation_version": agent.key_derivation_version,
        "wallets": [[w.index, w.address, w.public_key.hex()] for w in agent.wallets],
        "log_public_key": agent.log_public_key.hex(),
        "log_verifier_key": agent.log_verifier_key,
        "signing_public_key": agent.signing_public_key.hex(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
