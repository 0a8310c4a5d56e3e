"""Per-agent keys derived inside the enclave from one root secret.

HKDF-SHA256 with an explicit, versioned label per agent, purpose and index, so
two agents never share a key and an agent gets the same keys after a restart.
Changing a label is a new KEY_DERIVATION_VERSION, never an edit in place.
"""

from __future__ import annotations

import threading

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from anima_signer.tee.base import ROOT_SECRET_SIZE
from anima_signer_api.errors import InvalidRequest
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id
from anima_verify.eth import SECP256K1_ORDER

KEY_DERIVATION_VERSION = 1
_SALT = b"anima/key-derivation/v1"

PURPOSE_WALLET = "wallet/secp256k1"
PURPOSE_LOG = "log/ed25519"
PURPOSE_SIGNING = "signing/ed25519"


def validate_agent_id(agent_id: str) -> str:
    if not is_agent_id(agent_id):
        raise InvalidRequest(f"agent_id must be {AGENT_ID_RULE}")
    return agent_id


def derivation_label(agent_id: str, purpose: str, index: int = 0) -> bytes:
    """The HKDF info string; agent ids cannot contain '/', so labels never collide."""
    return f"anima/v{KEY_DERIVATION_VERSION}/agent/{agent_id}/{purpose}/{index}".encode()


class KeyRing:
    """Derives and caches agent keys; never hands out private key bytes."""

    def __init__(self, *, root_secret: bytes) -> None:
        if len(root_secret) != ROOT_SECRET_SIZE:
            raise ValueError("root secret must be 32 bytes")
        self._root = root_secret
        self._wallets: dict[tuple[str, int], coincurve.PrivateKey] = {}
        self._ed25519: dict[tuple[str, str], Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def _derive(self, label: bytes) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=label)
        return hkdf.derive(self._root)

    def wallet_key(self, agent_id: str, index: int) -> coincurve.PrivateKey:
        cache_key = (agent_id, index)
        key = self._wallets.get(cache_key)
        if key is None:
            label = derivation_label(agent_id, PURPOSE_WALLET, index)
            # Retry with a counter in the (2^-128 likely) case the output is not a valid scalar.
            for counter in range(256):
                secret = self._derive(label + bytes([counter]))
                if 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
                    break
            key = coincurve.PrivateKey(secret)
            with self._lock:
                self._wallets[cache_key] = key
        return key

    def _ed25519_key(self, agent_id: str, purpose: str) -> Ed25519PrivateKey:
        cache_key = (agent_id, purpose)
        key = self._ed25519.get(cache_key)
        if key is None:
            seed = self._derive(derivation_label(agent_id, purpose))
            key = Ed25519PrivateKey.from_private_bytes(seed)
            with self._lock:
                self._ed25519[cache_key] = key
        return key

    def log_key(self, agent_id: str) -> Ed25519PrivateKey:
        """Signs the agent's log checkpoints only; never used for caller payloads."""
        return self._ed25519_key(agent_id, PURPOSE_LOG)

    def signing_key(self, agent_id: str) -> Ed25519PrivateKey:
        """Signs raw Ed25519 payloads for callers, kept apart from the log key."""
        return self._ed25519_key(agent_id, PURPOSE_SIGNING)
