"""Per-agent keys derived inside the enclave from one root secret.

HKDF-SHA256 with an explicit, versioned label per agent, purpose and index, so
two agents never share a key and an agent gets the same keys after a restart.
Changing a label is a new KEY_DERIVATION_VERSION, never an edit in place.

Version 1 (agents created before agent roots) derives an agent's identity keys
(wallets, log, signing) straight from the signer root: their addresses stay as
they were, and they cannot move, since moving them would mean exporting the
signer root. Version 2 first derives a 32-byte *agent root* per agent and its
identity keys from that root only, so the agent root alone (escrowed to
guardians, or handed to a peer enclave) brings the same agent back on another
signer. The vault's and sealed state's keys stay node-local (signer root, v1
labels): a restoring node seals its own copy under its own root.
"""

from __future__ import annotations

import re
import threading

import coincurve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from anima_signer.tee.base import ROOT_SECRET_SIZE
from anima_signer_api.errors import InvalidRequest
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id
from anima_verify.eth import SECP256K1_ORDER

#: Agents created from now on: keys from a movable agent root.
KEY_DERIVATION_VERSION = 2
#: Identity keys straight from the signer root (agents created before agent roots).
LEGACY_KEY_DERIVATION_VERSION = 1
_SALT = b"anima/key-derivation/v1"
_AGENT_ROOT_SALT = b"anima/key-derivation/v2/agent-root"
AGENT_ROOT_SIZE = 32
#: The signer's own X25519 key as a guardian (escrowed shares are sealed to it).
GUARDIAN_KEY_LABEL = b"anima/v2/guardian/x25519"

PURPOSE_WALLET = "wallet/secp256k1"
PURPOSE_LOG = "log/ed25519"
PURPOSE_SIGNING = "signing/ed25519"
PURPOSE_ANCHOR = "anchor/secp256k1"
#: Key-encryption keys of the vault: `vault/<purpose>`, the index is the key epoch.
PURPOSE_VAULT = "vault"
#: The vault purpose of life data for DA: its keys derive from the agent root, so the
#: enclave that recovers the agent (and only it) opens what the lost one sealed.
PURPOSE_LIFE_DATA = "life-data"
#: The MAC key that binds an agent's sealed state rows into one unit; index = epoch.
PURPOSE_STATE_MAC = "state/hmac-sha256"


def validate_agent_id(agent_id: str) -> str:
    if not is_agent_id(agent_id):
        raise InvalidRequest(f"agent_id must be {AGENT_ID_RULE}")
    return agent_id


def derivation_label(agent_id: str, purpose: str, index: int = 0) -> bytes:
    """The HKDF info string; agent ids cannot contain '/', so labels never collide."""
    return f"anima/v{LEGACY_KEY_DERIVATION_VERSION}/agent/{agent_id}/{purpose}/{index}".encode()


def agent_root_label(agent_id: str) -> bytes:
    """The info string of an agent root derived from a signer root (version 2)."""
    return f"anima/v{KEY_DERIVATION_VERSION}/agent-root/{agent_id}".encode()


def agent_key_label(agent_id: str, purpose: str, index: int = 0) -> bytes:
    """The info string of an identity key derived from an agent root (version 2)."""
    return f"anima/v{KEY_DERIVATION_VERSION}/agent/{agent_id}/{purpose}/{index}".encode()


def _hkdf(ikm: bytes, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def agent_log_public_key(agent_id: str, agent_root: bytes) -> bytes:
    """The log public key an agent root derives (checks a recovered root is the agent's)."""
    seed = _hkdf(agent_root, salt=_SALT, info=agent_key_label(agent_id, PURPOSE_LOG))
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


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
        # Version-2 agents: their agent root (derived here, or restored from escrow).
        self._agent_roots: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _derive(self, label: bytes) -> bytes:
        return _hkdf(self._root, salt=_SALT, info=label)

    # ------------------------------------------------------------ agent roots

    def use_agent_root(self, agent_id: str, agent_root: bytes | None = None) -> None:
        """Derive this agent's identity keys from an agent root (key derivation version 2):
        the one this signer derives for it, or `agent_root` restored from escrow or a peer.

        Called before any of the agent's keys is derived; an agent already bound to
        another root is refused, so one agent never gets two sets of keys.
        """
        root = _hkdf(self._root, salt=_AGENT_ROOT_SALT, info=agent_root_label(agent_id))
        if agent_root is not None:
            if len(agent_root) != AGENT_ROOT_SIZE:
                raise ValueError(f"an agent root is {AGENT_ROOT_SIZE} bytes")
            root = agent_root
        with self._lock:
            bound = self._agent_roots.get(agent_id)
            if bound is not None and bound != root:
                raise ValueError(f"agent {agent_id!r} is already bound to another agent root")
            if bound is None and any(k[0] == agent_id for k in (*self._wallets, *self._ed25519)):
                raise ValueError(f"agent {agent_id!r} already has keys from the signer root")
            self._agent_roots[agent_id] = root

    def agent_root(self, agent_id: str) -> bytes:
        """The agent root, for escrow and migration inside the enclave only: it never
        leaves except split into guardian shares or encrypted to an attested peer."""
        root = self._agent_roots.get(agent_id)
        if root is None:
            raise ValueError(
                f"agent {agent_id!r} derives its keys from the signer root (key derivation "
                f"version {LEGACY_KEY_DERIVATION_VERSION}): it has no agent root to move"
            )
        return root

    def _identity_secret(self, agent_id: str, purpose: str, index: int, counter: bytes) -> bytes:
        root = self._agent_roots.get(agent_id)
        if root is None:
            return self._derive(derivation_label(agent_id, purpose, index) + counter)
        return _hkdf(root, salt=_SALT, info=agent_key_label(agent_id, purpose, index) + counter)

    def wallet_key(self, agent_id: str, index: int) -> coincurve.PrivateKey:
        cache_key = (agent_id, index)
        key = self._wallets.get(cache_key)
        if key is None:
            key = self._secp256k1(agent_id, PURPOSE_WALLET, index)
            with self._lock:
                self._wallets[cache_key] = key
        return key

    def anchor_key(self, agent_id: str) -> coincurve.PrivateKey:
        """Signs the agent's on-chain anchor updates only (contracts/AgentAnchor.sol); from
        the agent root, so a recovered enclave holds it and a signer-root agent has none."""
        self.agent_root(agent_id)  # ValueError for version-1 agents
        return self._secp256k1(agent_id, PURPOSE_ANCHOR, 0)

    def _secp256k1(self, agent_id: str, purpose: str, index: int) -> coincurve.PrivateKey:
        # Retry with a counter in the (2^-128 likely) case the output is not a valid scalar.
        for counter in range(256):
            secret = self._identity_secret(agent_id, purpose, index, bytes([counter]))
            if 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
                break
        return coincurve.PrivateKey(secret)

    def _ed25519_key(self, agent_id: str, purpose: str) -> Ed25519PrivateKey:
        cache_key = (agent_id, purpose)
        key = self._ed25519.get(cache_key)
        if key is None:
            seed = self._identity_secret(agent_id, purpose, 0, b"")
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
            if purpose == PURPOSE_LIFE_DATA:
                root = self.agent_root(agent_id)
                label = agent_key_label(agent_id, f"{PURPOSE_VAULT}/{purpose}", epoch)
                secret = self._by_use[cache_key] = _hkdf(root, salt=_SALT, info=label)
                return secret
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
        if re.match(rb"anima/v[0-9]+/agent", label):
            raise ValueError("agent keys are derived per agent and purpose")
        return self._secret(label)

    def guardian_key(self) -> X25519PrivateKey:
        """This signer's key as a guardian of other agents' escrowed roots (HPKE recipient)."""
        return X25519PrivateKey.from_private_bytes(self._secret(GUARDIAN_KEY_LABEL))

    def log_key(self, agent_id: str) -> Ed25519PrivateKey:
        """Signs the agent's log checkpoints and, domain-separated, its DA manifests
        (anima_verify.lifedata); never used for caller payloads."""
        return self._ed25519_key(agent_id, PURPOSE_LOG)

    def signing_key(self, agent_id: str) -> Ed25519PrivateKey:
        """Signs raw Ed25519 payloads for callers, kept apart from the log key."""
        return self._ed25519_key(agent_id, PURPOSE_SIGNING)
