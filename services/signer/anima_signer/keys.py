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
#: Key-encryption keys of the vault: `vault/<purpose>`, the index is the key epoch.
PURPOSE_VAULT = "vault"
#: The MAC key that binds an agent's sealed state rows into one unit; index = epoch.
PURPOSE_STATE_MAC = "state/hmac-sha256"


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
        self._secrets: dict[bytes, bytes] = {}
        # The same secrets by (purpose, agent, detail, index): no label to build per row.
        self._by_use: dict[tuple[str, str, str, int], bytes] = {}
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

    def _secret(self, label: bytes) -> bytes:
        secret = self._secrets.get(label)
        if secret is None:
            secret = self._derive(label)
            with self._lock:
                self._secrets[label] = secret
        return secret

    def vault_kek(self, agent_id: str, purpose: str, epoch: int) -> bytes:
        """The vault's key-encryption key for an agent, purpose and key epoch; it stays
        in the enclave (anima_signer.vault wraps data keys with it)."""
        cache_key = (PURPOSE_VAULT, agent_id, purpose, epoch)
        secret = self._by_use.get(cache_key)
        if secret is None:
            if "/" in purpose or not purpose:
                raise ValueError("a vault purpose is one label segment")
            label = derivation_label(agent_id, f"{PURPOSE_VAULT}/{purpose}", epoch)
            secret = self._by_use[cache_key] = self._secret(label)
        return secret

    def state_mac_key(self, agent_id: str, epoch: int) -> bytes:
        """HMAC key that binds the agent's sealed state rows (anima_signer.sealed_state)."""
        cache_key = (PURPOSE_STATE_MAC, agent_id, "", epoch)
        secret = self._by_use.get(cache_key)
        if secret is None:
            label = derivation_label(agent_id, PURPOSE_STATE_MAC, epoch)
            secret = self._by_use[cache_key] = self._secret(label)
        return secret

    def store_mac_key(self, label: bytes) -> bytes:
        """A MAC key of the signer's own (not an agent's): labels outside `anima/v<N>/agent/`."""
        if label.startswith(b"anima/v1/agent/"):
            raise ValueError("agent keys are derived per agent and purpose")
        return self._secret(label)

    def log_key(self, agent_id: str) -> Ed25519PrivateKey:
        """Signs the agent's log checkpoints only; never used for caller payloads."""
        return self._ed25519_key(agent_id, PURPOSE_LOG)

    def signing_key(self, agent_id: str) -> Ed25519PrivateKey:
        """Signs raw Ed25519 payloads for callers, kept apart from the log key."""
        return self._ed25519_key(agent_id, PURPOSE_SIGNING)
