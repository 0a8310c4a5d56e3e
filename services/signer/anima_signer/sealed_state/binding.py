"""What binds an agent's sealed rows into one unit: each row's term, the agent's
sealed head, and the store's MACed manifest of agents (see the package docstring).
Keys come from the enclave's KeyRing and never leave it."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import struct
from typing import Final

from anima_signer.keys import KeyRing
from anima_signer.sealed_state.errors import AgentStateTampered, StateManifestRefused
from anima_signer.vault import SealedBlobMalformed, SealedBlobRefused, Vault

#: The key epoch of state sealed by this enclave (a recovery will bump it, issue 15).
STATE_EPOCH: Final = 0
HEAD_PURPOSE: Final = "state-head"
ROW_PURPOSE: Final = "state-row"
#: Table names: no NUL, so context() frames (table, key) unambiguously.
TABLE_RULE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HEAD = struct.Struct(">QQ32s")
_MANIFEST_LABEL = b"anima/v1/store/manifest/hmac-sha256"


def context(table: str, key: bytes) -> bytes:
    """A row's place, as its seal's context and its term bind it."""
    return table.encode() + b"\x00" + key


class StateBinding:
    """Terms, heads and the manifest for one enclave's keys."""

    def __init__(self, *, keyring: KeyRing, vault: Vault) -> None:
        self._keys = keyring
        self._vault = vault

    def term(self, agent_id: str, table: str, key: bytes, blob: bytes) -> int:
        """HMAC(k_agent, table, key, SHA-256(blob)): the row's share of its head's digest."""
        message = b"row\x00" + context(table, key) + b"\x00" + hashlib.sha256(blob).digest()
        mac = hmac.digest(self._keys.state_mac_key(agent_id, STATE_EPOCH), message, "sha256")
        return int.from_bytes(mac, "big")

    def hidden_key(self, agent_id: str, table: str, key: bytes) -> bytes:
        """A key the host must not read, as stored: an HMAC it cannot invert."""
        mac_key = self._keys.state_mac_key(agent_id, STATE_EPOCH)
        return hmac.digest(mac_key, b"key\x00" + context(table, key), "sha256")[:20]

    def seal_head(self, agent_id: str, generation: int, count: int, digest: int) -> bytes:
        plain = _HEAD.pack(generation, count, digest.to_bytes(32, "big"))
        return self._vault.seal(plain, agent_id=agent_id, purpose=HEAD_PURPOSE, epoch=STATE_EPOCH)

    def open_head(self, agent_id: str, head_blob: bytes) -> tuple[int, int, int]:
        """(generation, row count, digest), or AgentStateTampered."""
        try:
            plain = self._vault.unseal(
                head_blob, agent_id=agent_id, purpose=HEAD_PURPOSE, epochs=(STATE_EPOCH,)
            )
        except (SealedBlobMalformed, SealedBlobRefused) as exc:
            raise AgentStateTampered(agent_id, f"its sealed head: {exc.message}") from None
        if len(plain) != _HEAD.size:
            raise AgentStateTampered(agent_id, "its sealed head has the wrong size")
        generation, count, digest = _HEAD.unpack(plain)
        return generation, count, int.from_bytes(digest, "big")

    def _manifest_mac(self, agents: bytes) -> bytes:
        return hmac.digest(self._keys.store_mac_key(_MANIFEST_LABEL), agents, "sha256")

    def read_manifest(self, db: sqlite3.Connection) -> set[str]:
        """The agents this enclave recorded (empty for a new store), or StateManifestRefused."""
        row = db.execute("SELECT agents, mac FROM sealed_manifest").fetchone()
        if row is None:
            return set()
        agents, mac = row
        if not (
            isinstance(agents, bytes)
            and isinstance(mac, bytes)
            and hmac.compare_digest(self._manifest_mac(agents), mac)
        ):
            raise StateManifestRefused(
                "the state store's list of agents failed its MAC: it was edited, or the store "
                "was written by another enclave"
            )
        return set(json.loads(agents))

    def write_manifest(self, db: sqlite3.Connection, agents: set[str]) -> None:
        encoded = json.dumps(sorted(agents), separators=(",", ":")).encode()
        db.execute(
            "INSERT OR REPLACE INTO sealed_manifest VALUES (0, ?, ?)",
            (encoded, self._manifest_mac(encoded)),
        )
