"""The signer's durable state: agents and idempotency records, in SQLite.

SQLite gives atomic commits and survives kill -9; WAL keeps writes cheap. Only
public data and answers already given are stored: no key material.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from anima_signer.errors import AgentExists
from anima_signer.models import SigningPolicy, policy_as_dict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    wallet_count INTEGER NOT NULL,
    policy_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    key_derivation_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_fingerprint BLOB NOT NULL,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (agent_id, key)
);
"""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    agent_id: str
    wallet_count: int
    policy: SigningPolicy
    created_at: datetime
    key_derivation_version: int


def _policy_to_json(policy: SigningPolicy) -> str:
    return json.dumps(policy_as_dict(policy), sort_keys=True)


def _policy_from_json(text: str) -> SigningPolicy:
    raw = json.loads(text)
    return SigningPolicy(
        allowed_chain_ids=frozenset(int(c) for c in raw["allowed_chain_ids"]),
        max_value_wei=int(raw["max_value_wei"]),
        allow_personal_messages=bool(raw["allow_personal_messages"]),
        allow_typed_data=bool(raw["allow_typed_data"]),
        allow_raw_ed25519=bool(raw["allow_raw_ed25519"]),
    )


class SignerStore:
    def __init__(self, *, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._agents: dict[str, AgentRecord] = {}
        for row in self._db.execute("SELECT * FROM agents"):
            self._agents[row[0]] = AgentRecord(
                agent_id=row[0],
                wallet_count=row[1],
                policy=_policy_from_json(row[2]),
                created_at=datetime.fromisoformat(row[3]),
                key_derivation_version=row[4],
            )

    def close(self) -> None:
        self._db.close()

    def add_agent(self, record: AgentRecord) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO agents VALUES (?, ?, ?, ?, ?)",
                    (
                        record.agent_id,
                        record.wallet_count,
                        _policy_to_json(record.policy),
                        record.created_at.isoformat(),
                        record.key_derivation_version,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise AgentExists(record.agent_id) from exc
            self._agents[record.agent_id] = record

    def agent(self, agent_id: str) -> AgentRecord | None:
        return self._agents.get(agent_id)

    def agents(self) -> list[AgentRecord]:
        return sorted(self._agents.values(), key=lambda r: r.agent_id)

    def idempotent_response(self, agent_id: str, key: str) -> tuple[bytes, str] | None:
        """(request fingerprint, stored response JSON) for a key already used."""
        with self._lock:
            row = self._db.execute(
                "SELECT request_fingerprint, response_json FROM idempotency "
                "WHERE agent_id = ? AND key = ?",
                (agent_id, key),
            ).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def save_idempotent_response(
        self, agent_id: str, key: str, fingerprint: bytes, response_json: str
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (agent_id, key, fingerprint, response_json, datetime.now(UTC).isoformat()),
            )
