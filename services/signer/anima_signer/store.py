"""The signer's durable state: agents, idempotency records and logs, in SQLite.

SQLite gives atomic commits and survives kill -9; WAL keeps writes cheap, and
synchronous=FULL makes every commit durable before anything is answered. Only
public data and answers already given are stored: no key material.

One connection, one lock: writes that belong together (a log append, the
checkpoint it signs, the idempotency record of the signature it logs) run in
one `transaction()`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from anima_signer_api.errors import AgentExists
from anima_signer_api.types import SequencedEntry, SigningPolicy, policy_as_dict

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
-- Per agent: the Merkle frontier (anima_verify.tlog.merkle.CompactRange.to_bytes),
-- the last entry time, the latest signed checkpoint note, `released`, the
-- host's confirmed size: entries below it are no longer kept here, and the
-- log's origin (its identity, and its note key's name), fixed when it started.
CREATE TABLE IF NOT EXISTS log_state (
    agent_id TEXT PRIMARY KEY,
    frontier BLOB NOT NULL,
    last_time_ms INTEGER NOT NULL,
    checkpoint BLOB NOT NULL,
    released INTEGER NOT NULL,
    origin TEXT NOT NULL
);
-- Per agent: the latest checkpoint a quorum of witnesses cosigned (the note with
-- their cosignatures) and the Merkle frontier at its size, from which the next
-- consistency proof to the witnesses starts (anima_signer.witnessing).
CREATE TABLE IF NOT EXISTS log_witnessed (
    agent_id TEXT PRIMARY KEY,
    frontier BLOB NOT NULL,
    note BLOB NOT NULL
);
-- Entries [released, size) and the payloads the enclave wrote for them.
CREATE TABLE IF NOT EXISTS log_pending (
    agent_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    entry BLOB NOT NULL,
    payload BLOB,
    PRIMARY KEY (agent_id, idx)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class StoredAgent:
    agent_id: str
    wallet_count: int
    policy: SigningPolicy
    created_at: datetime
    key_derivation_version: int


@dataclass(frozen=True, slots=True)
class LogStateRecord:
    agent_id: str
    origin: str
    frontier: bytes
    last_time_ms: int
    checkpoint: bytes
    released: int


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
        self._migrate()
        self._lock = threading.RLock()
        self._after_commit: list[Callable[[], None]] | None = None  # set inside a transaction
        self._agents: dict[str, StoredAgent] = {}
        for row in self._db.execute("SELECT * FROM agents"):
            self._agents[row[0]] = StoredAgent(
                agent_id=row[0],
                wallet_count=row[1],
                policy=_policy_from_json(row[2]),
                created_at=datetime.fromisoformat(row[3]),
                key_derivation_version=row[4],
            )

    def _migrate(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(log_state)")}
        if "origin" not in columns:
            # Stores from before origins were kept: fill_log_origins fills them on open.
            self._db.execute("ALTER TABLE log_state ADD COLUMN origin TEXT")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self, after_commit: Callable[[], None] | None = None) -> Iterator[None]:
        """All writes inside commit together or not at all; other threads wait.

        `after_commit` (and what store methods register) runs once the commit is
        durable, still under the lock, so caches never show uncommitted state.
        """
        with self._lock:
            if self._after_commit is not None:
                raise RuntimeError("SignerStore transactions do not nest")
            hooks: list[Callable[[], None]] = []
            self._after_commit = hooks
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            finally:
                self._after_commit = None
            for hook in hooks:
                hook()
            if after_commit is not None:
                after_commit()

    def _on_commit(self, hook: Callable[[], None]) -> None:
        if self._after_commit is None:
            hook()
        else:
            self._after_commit.append(hook)

    def add_agent(self, record: StoredAgent) -> None:
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
            self._on_commit(lambda: self._agents.__setitem__(record.agent_id, record))

    def agent(self, agent_id: str) -> StoredAgent | None:
        return self._agents.get(agent_id)

    def agents(self) -> list[StoredAgent]:
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

    # ------------------------------------------------------------ logs

    def log_state(self, agent_id: str) -> LogStateRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT origin, frontier, last_time_ms, checkpoint, released FROM log_state "
                "WHERE agent_id = ?",
                (agent_id,),
            ).fetchone()
        if row is None:
            return None
        return LogStateRecord(
            agent_id=agent_id,
            origin=_stored_origin(agent_id, row[0]),
            frontier=bytes(row[1]),
            last_time_ms=int(row[2]),
            checkpoint=bytes(row[3]),
            released=int(row[4]),
        )

    def log_origin(self, agent_id: str) -> str | None:
        """The origin the agent's log started with; None for an agent without a log."""
        with self._lock:
            row = self._db.execute(
                "SELECT origin FROM log_state WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        return None if row is None else _stored_origin(agent_id, row[0])

    def fill_log_origins(self, origin_for: Callable[[str], str]) -> None:
        """Give logs stored before origins were kept the origin they have been signed with."""
        with self.transaction():
            rows = self._db.execute(
                "SELECT agent_id FROM log_state WHERE origin IS NULL"
            ).fetchall()
            self._db.executemany(
                "UPDATE log_state SET origin = ? WHERE agent_id = ?",
                [(origin_for(str(r[0])), str(r[0])) for r in rows],
            )

    def agents_without_log(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT agent_id FROM agents WHERE agent_id NOT IN (SELECT agent_id FROM log_state)"
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def put_log_state(self, record: LogStateRecord) -> None:
        """Insert or update; an existing log keeps its origin."""
        with self._lock:
            self._db.execute(
                "INSERT INTO log_state (agent_id, origin, frontier, last_time_ms, checkpoint, "
                "released) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
                "frontier = excluded.frontier, last_time_ms = excluded.last_time_ms, "
                "checkpoint = excluded.checkpoint, released = excluded.released",
                (
                    record.agent_id,
                    record.origin,
                    record.frontier,
                    record.last_time_ms,
                    record.checkpoint,
                    record.released,
                ),
            )

    def add_pending(self, agent_id: str, rows: list[tuple[int, bytes, bytes | None]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT INTO log_pending VALUES (?, ?, ?, ?)",
                [(agent_id, index, entry, payload) for index, entry, payload in rows],
            )

    def release_pending(self, agent_id: str, below: int) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM log_pending WHERE agent_id = ? AND idx < ?", (agent_id, below)
            )

    def pending(self, agent_id: str, start: int, end: int) -> list[SequencedEntry]:
        """Stored entries [start, end) in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT entry, payload FROM log_pending WHERE agent_id = ? AND idx >= ? "
                "AND idx < ? ORDER BY idx",
                (agent_id, start, end),
            ).fetchall()
        return [SequencedEntry(bytes(r[0]), None if r[1] is None else bytes(r[1])) for r in rows]

    # ------------------------------------------------------------ witnessing

    def witnessed(self, agent_id: str) -> tuple[bytes, bytes] | None:
        """(frontier, cosigned note) of the agent's latest witnessed checkpoint."""
        with self._lock:
            row = self._db.execute(
                "SELECT frontier, note FROM log_witnessed WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def put_witnessed(self, agent_id: str, frontier: bytes, note: bytes) -> None:
        """Committed without its own fsync (synchronous=NORMAL for this commit): the
        next ordinary commit fsyncs the WAL, this frame included, and the host can
        confirm entries (release them here) only in such a later commit, so a power
        loss never leaves the released size above the durable witnessed size. Lost,
        the row only sends the next round from the older size (the witnesses answer
        409 with theirs, and the entries to prove from are still held)."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self.transaction():
                    self._db.execute(
                        "INSERT INTO log_witnessed VALUES (?, ?, ?) ON CONFLICT (agent_id) "
                        "DO UPDATE SET frontier = excluded.frontier, note = excluded.note",
                        (agent_id, frontier, note),
                    )
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def log_since(self, agent_id: str, start: int) -> tuple[bytes, bytes, list[SequencedEntry]]:
        """(latest signed checkpoint, its frontier, entries [start, size)), read at one moment."""
        with self._lock:
            record = self.log_state(agent_id)
            if record is None:
                raise RuntimeError(f"agent {agent_id!r} has no log")
            size = int.from_bytes(record.frontier[:8], "big")
            return record.checkpoint, record.frontier, self.pending(agent_id, start, size)


def _stored_origin(agent_id: str, value: object) -> str:
    if not isinstance(value, str):
        raise RuntimeError(f"the log of agent {agent_id!r} has no stored origin")
    return value
