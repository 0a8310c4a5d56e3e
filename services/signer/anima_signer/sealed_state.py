"""Sealed rows on the host's disk: the host can neither read nor edit them, only
withhold or replace the whole agent (or the whole store).

The store is SQLite (atomic commits, kill -9 safe), but every value in it is a
vault blob (anima_signer.vault) sealed for its agent with the row's table and key
as context, so a row cannot be read, forged, or moved to another agent, table or
key. Splicing old and new rows is caught by a per-agent *head*, sealed too, that
commits to the agent's whole set of rows:

    head = (generation, row count, XOR over rows of HMAC(k_agent, table, key, SHA-256(blob)))

k_agent never leaves the enclave, so the host cannot compute any row's term and
cannot find another set of rows (an older version of one, a dropped one, one
resurrected after deletion) with the same sum. Every commit that touches an agent
writes its new head in the same SQLite transaction. On open, each agent's rows
are hashed and checked against its head; while running, the enclave keeps each
row's term in memory and checks every row it reads against it, and it re-reads
an agent's head once per transaction (a head it did not write: re-checked, and
refused if older). A *manifest* (the agent ids, MACed under a store key) catches
an agent whose whole state was deleted.

A check that fails refuses that agent only (AgentStateRefused, with the cause) and
leaves its rows as found; other agents keep working. What this cannot catch: the
host replacing an agent's head and rows together by an older copy while the signer
is stopped (a whole-agent rollback), or the whole store by an older copy; the
witnessed checkpoints are the answer to that (README, "Sealed state").

Tables are names, rows are (table, key) -> bytes: a new table needs no schema and
is sealed like the others. Keys are visible to the host unless the table is
declared with hidden keys (their keys are stored as an HMAC under k_agent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from anima_signer.keys import KeyRing
from anima_signer.vault import SealedBlobMalformed, SealedBlobRefused, Vault
from anima_signer_api.errors import AgentStateRefused, SignerError
from anima_verify.errors import ErrorKind

#: The key epoch of state sealed by this enclave (a recovery will bump it, issue 15).
STATE_EPOCH: Final = 0
HEAD_PURPOSE: Final = "state-head"
ROW_PURPOSE: Final = "state-row"
_TABLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HEAD = struct.Struct(">QQ32s")
_MANIFEST_LABEL = b"anima/v1/store/manifest/hmac-sha256"

_SCHEMA = """
-- A rowid table: sealed values (a few hundred bytes) are appended in write order,
-- and only the small (agent, table, key) index takes the scattered inserts of
-- hidden (HMAC) keys.
CREATE TABLE IF NOT EXISTS sealed_rows (
    agent_id TEXT NOT NULL,
    tbl TEXT NOT NULL,
    row_key BLOB NOT NULL,
    blob BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS sealed_rows_key ON sealed_rows (agent_id, tbl, row_key);
CREATE TABLE IF NOT EXISTS sealed_heads (
    agent_id TEXT PRIMARY KEY,
    blob BLOB NOT NULL
) WITHOUT ROWID;
-- One row: the JSON list of agent ids and its HMAC under the store's manifest key.
CREATE TABLE IF NOT EXISTS sealed_manifest (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    agents BLOB NOT NULL,
    mac BLOB NOT NULL
);
"""


class AgentStateTampered(AgentStateRefused):
    """A row or the head was altered, dropped, added, replaced by an older version,
    or moved from elsewhere."""


class AgentStateRolledBack(AgentStateRefused):
    """While this signer ran, the agent's state was replaced by an older copy."""


class AgentStateMissing(AgentStateRefused):
    """The manifest names the agent, but its state is gone (or its head is)."""


class StateManifestRefused(SignerError):
    """The store's list of agents failed its check: the store is not one this enclave
    wrote, or was edited. The signer refuses to start on it."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "STATE_MANIFEST_REFUSED"


@dataclass(slots=True)
class _Agent:
    """What the enclave knows of an agent's committed rows."""

    generation: int
    head_blob: bytes | None  # None until its first commit
    digest: int
    # key -> the row's term: HMAC(k_agent, table, key, SHA-256(blob)), as an int
    tables: dict[str, dict[bytes, int]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


@dataclass(slots=True)
class _Undo:
    """How to put an agent's index back if the transaction rolls back."""

    generation: int
    head_blob: bytes | None
    digest: int
    rows: list[tuple[str, bytes, int | None]] = field(default_factory=list)


def _context(table: str, key: bytes) -> bytes:
    """Table names follow _TABLE (no NUL), so the NUL ends the name unambiguously."""
    return table.encode() + b"\x00" + key


class SealedState:
    """Sealed (agent, table, key) -> bytes rows in one SQLite file. Thread-safe: one
    connection, one lock; writes that belong together run in one `transaction()`."""

    def __init__(self, *, path: Path, keyring: KeyRing, hidden_key_tables: frozenset[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._keys = keyring
        self._vault = Vault(keyring=keyring)
        self._hidden = hidden_key_tables
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._agents: dict[str, _Agent] = {}
        self._refused: dict[str, AgentStateRefused] = {}
        self._manifest: set[str] = set()
        # Set inside a transaction:
        self._undo: dict[str, _Undo] | None = None
        self._checked: set[str] = set()  # agents whose head was re-read in this transaction
        self._staged: list[tuple[str, str, bytes, bytes]] = []  # rows to insert at the next read
        self._after_commit: list[Callable[[], None]] | None = None
        self._load()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ loading and checks

    def _load(self) -> None:
        self._manifest = self._read_manifest()
        # Only text agent ids can name an agent; anything else the host wrote is read by no one.
        heads = dict(
            self._db.execute(
                "SELECT agent_id, blob FROM sealed_heads WHERE typeof(agent_id) = 'text'"
            ).fetchall()
        )
        if heads and not self._manifest:
            raise StateManifestRefused(
                "the state store holds sealed agents but no manifest: it was edited"
            )
        on_disk = set(heads) | {
            r[0]
            for r in self._db.execute(
                "SELECT DISTINCT agent_id FROM sealed_rows WHERE typeof(agent_id) = 'text'"
            )
        }
        for agent_id in sorted(self._manifest | on_disk):
            try:
                self._agents[agent_id] = self._verified(agent_id, heads.get(agent_id))
            except AgentStateRefused as refused:
                self._refused[agent_id] = refused

    def _verified(self, agent_id: str, head_blob: object) -> _Agent:
        """The agent as its rows on disk are, checked against its sealed head."""
        if agent_id not in self._manifest:
            raise AgentStateTampered(
                agent_id, "its state is in the store but this enclave never recorded the agent"
            )
        if head_blob is None:
            raise AgentStateMissing(agent_id, "its sealed head is gone from the state store")
        if not isinstance(head_blob, bytes):
            raise AgentStateTampered(agent_id, "its head is not a sealed blob")
        generation, count, digest = self._open_head(agent_id, head_blob)
        agent = _Agent(generation=generation, head_blob=head_blob, digest=0)
        rows = self._db.execute(
            "SELECT tbl, row_key, blob FROM sealed_rows WHERE agent_id = ?", (agent_id,)
        )
        for table, key, blob in rows:
            if not (isinstance(table, str) and isinstance(key, bytes) and isinstance(blob, bytes)):
                raise AgentStateTampered(agent_id, "a row of another type was written in its state")
            if _TABLE.fullmatch(table) is None:  # (table, key) framing relies on the rule
                raise AgentStateTampered(agent_id, "a row names a table the enclave never writes")
            term = self._term(agent_id, table, key, blob)
            agent.tables.setdefault(table, {})[key] = term
            agent.digest ^= term
        if agent.count != count:
            change = "dropped" if agent.count < count else "added"
            raise AgentStateTampered(
                agent_id,
                f"its head commits to {count} rows, the store holds {agent.count} "
                f"(rows were {change})",
            )
        if agent.digest != digest:
            raise AgentStateTampered(
                agent_id,
                "a row differs from the one the enclave wrote (replaced by another "
                "version, or moved from elsewhere)",
            )
        return agent

    def _open_head(self, agent_id: str, head_blob: bytes) -> tuple[int, int, int]:
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

    def _term(self, agent_id: str, table: str, key: bytes, blob: bytes) -> int:
        message = b"row\x00" + _context(table, key) + b"\x00" + hashlib.sha256(blob).digest()
        mac = hmac.digest(self._keys.state_mac_key(agent_id, STATE_EPOCH), message, "sha256")
        return int.from_bytes(mac, "big")

    def _manifest_mac(self, agents: bytes) -> bytes:
        return hmac.digest(self._keys.store_mac_key(_MANIFEST_LABEL), agents, "sha256")

    def _read_manifest(self) -> set[str]:
        row = self._db.execute("SELECT agents, mac FROM sealed_manifest").fetchone()
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

    def _refuse(self, refused: AgentStateRefused) -> AgentStateRefused:
        self._agents.pop(refused.agent_id, None)
        self._refused[refused.agent_id] = refused
        return refused

    def _agent(self, agent_id: str, *, recheck: bool = True) -> _Agent | None:
        """The agent's committed index, its head re-read once per transaction: a head
        this enclave did not write is re-checked with its rows (another writer past the
        state lock: reloaded if newer; the host: refused). Reads outside a transaction
        skip that (recheck=False): each row read is checked against the index anyway,
        and what is written next is checked in its transaction."""
        earlier = self._refused.get(agent_id)
        if earlier is not None:
            raise earlier
        if (self._undo is not None and agent_id in self._checked) or (
            not recheck and self._undo is None and agent_id in self._agents
        ):
            return self._agents.get(agent_id)
        known = self._agents.get(agent_id)
        row = self._db.execute(
            "SELECT blob FROM sealed_heads WHERE agent_id = ?", (agent_id,)
        ).fetchone()
        on_disk = None if row is None else row[0]
        if known is not None and on_disk != known.head_blob and known.head_blob is not None:
            # Written behind this signer (a second process past the state lock), or edited.
            if on_disk is None:
                raise self._refuse(AgentStateMissing(agent_id, "its sealed head was deleted"))
            self._manifest |= self._read_manifest()
            try:
                fresh = self._verified(agent_id, on_disk)
            except AgentStateRefused as refused:
                raise self._refuse(refused) from None
            if fresh.generation < known.generation:
                raise self._refuse(
                    AgentStateRolledBack(
                        agent_id,
                        f"its state went back from generation {known.generation} to "
                        f"{fresh.generation} while the signer ran",
                    )
                )
            self._agents[agent_id] = known = fresh
        elif known is None and on_disk is not None:
            self._manifest |= self._read_manifest()  # an agent another process created
            try:
                known = self._agents[agent_id] = self._verified(agent_id, on_disk)
            except AgentStateRefused as refused:
                raise self._refuse(refused) from None
        if self._undo is not None:
            self._checked.add(agent_id)
        return known

    # ------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self, after_commit: Callable[[], None] | None = None) -> Iterator[None]:
        """All writes inside commit together, each touched agent's head with them, or
        none does. `after_commit` (and on_commit hooks) run once the commit is durable,
        still under the lock."""
        with self._lock:
            if self._undo is not None:
                raise RuntimeError("SealedState transactions do not nest")
            self._undo, self._checked = {}, set()
            hooks: list[Callable[[], None]] = []
            self._after_commit = hooks
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._write_heads()
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    self._roll_back_index()
                    raise
            finally:
                self._undo, self._after_commit = None, None
                self._checked, self._staged = set(), []
            for hook in hooks:
                hook()
            if after_commit is not None:
                after_commit()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A write joins the open transaction, or commits alone."""
        if self._undo is not None:
            yield
        else:
            with self.transaction():
                yield

    def on_commit(self, hook: Callable[[], None]) -> None:
        if self._after_commit is None:
            hook()
        else:
            self._after_commit.append(hook)

    def _touch(self, agent_id: str) -> _Agent:
        """The agent's index, ready to change in this transaction."""
        assert self._undo is not None
        agent = self._agent(agent_id)
        if agent is None:
            # A new agent: rows the host planted under its id would fail its first check.
            self._db.execute("DELETE FROM sealed_rows WHERE agent_id = ?", (agent_id,))
            agent = self._agents[agent_id] = _Agent(generation=0, head_blob=None, digest=0)
        if agent_id not in self._undo:
            self._undo[agent_id] = _Undo(agent.generation, agent.head_blob, agent.digest)
        return agent

    def _flush(self) -> None:
        """Insert the staged rows: one statement for every put of a transaction."""
        if self._staged:
            staged, self._staged = self._staged, []
            self._db.executemany("INSERT OR REPLACE INTO sealed_rows VALUES (?, ?, ?, ?)", staged)

    def _write_heads(self) -> None:
        assert self._undo is not None
        self._flush()
        new_agents = {a for a in self._undo if a not in self._manifest}
        if new_agents:
            # Re-read under the write lock: another process may have added agents since.
            agents = sorted(self._read_manifest() | self._manifest | new_agents)
            encoded = json.dumps(agents, separators=(",", ":")).encode()
            self._db.execute(
                "INSERT OR REPLACE INTO sealed_manifest VALUES (0, ?, ?)",
                (encoded, self._manifest_mac(encoded)),
            )
        for agent_id in self._undo:
            agent = self._agents[agent_id]
            agent.generation += 1
            plain = _HEAD.pack(agent.generation, agent.count, agent.digest.to_bytes(32, "big"))
            agent.head_blob = self._vault.seal(
                plain, agent_id=agent_id, purpose=HEAD_PURPOSE, epoch=STATE_EPOCH
            )
            self._db.execute(
                "INSERT OR REPLACE INTO sealed_heads VALUES (?, ?)", (agent_id, agent.head_blob)
            )
        self._manifest |= new_agents

    def _roll_back_index(self) -> None:
        assert self._undo is not None
        for agent_id, undo in self._undo.items():
            agent = self._agents.get(agent_id)
            if agent is None:
                continue
            if undo.head_blob is None and undo.generation == 0:
                del self._agents[agent_id]  # created in this transaction
                continue
            for table, key, old in reversed(undo.rows):
                rows = agent.tables.setdefault(table, {})
                if old is None:
                    rows.pop(key, None)
                else:
                    rows[key] = old
            agent.generation, agent.head_blob, agent.digest = (
                undo.generation,
                undo.head_blob,
                undo.digest,
            )

    # ------------------------------------------------------------ rows

    def row_key(self, agent_id: str, table: str, key: bytes) -> bytes:
        """The key as stored: a hidden table's keys are an HMAC the host cannot invert."""
        if table not in self._hidden:
            return key
        mac_key = self._keys.state_mac_key(agent_id, STATE_EPOCH)
        return hmac.digest(mac_key, b"key\x00" + _context(table, key), "sha256")[:20]

    def agents(self) -> list[str]:
        """Agents whose state passed its checks (with at least one committed row)."""
        return sorted(a for a, agent in self._agents.items() if agent.head_blob is not None)

    def refused(self) -> dict[str, AgentStateRefused]:
        """Agents refused so far, with why."""
        return dict(self._refused)

    def check_agent(self, agent_id: str) -> None:
        """AgentStateRefused if the agent's state was refused (on open or since)."""
        with self._lock:
            self._agent(agent_id)

    def get(self, agent_id: str, table: str, key: bytes) -> bytes | None:
        with self._lock:
            agent = self._agent(agent_id, recheck=False)
            stored = self.row_key(agent_id, table, key)
            expected = None if agent is None else agent.tables.get(table, {}).get(stored)
            if expected is None:
                return None  # a row the enclave never wrote is not there, whatever the disk says
            self._flush()
            row = self._db.execute(
                "SELECT blob FROM sealed_rows WHERE agent_id = ? AND tbl = ? AND row_key = ?",
                (agent_id, table, stored),
            ).fetchone()
            return self._opened(agent_id, table, stored, expected, None if row is None else row[0])

    def _opened(
        self, agent_id: str, table: str, stored: bytes, expected: int, blob: object
    ) -> bytes:
        if blob is None:
            raise self._refuse(
                AgentStateTampered(agent_id, f"a row of its {table} was deleted from the store")
            )
        if not isinstance(blob, bytes) or self._term(agent_id, table, stored, blob) != expected:
            raise self._refuse(
                AgentStateTampered(
                    agent_id, f"a row of its {table} was replaced in the store while it ran"
                )
            )
        return self._vault.unseal(
            blob,
            agent_id=agent_id,
            purpose=ROW_PURPOSE,
            epochs=(STATE_EPOCH,),
            context=_context(table, stored),
        )

    def keys(self, agent_id: str, table: str) -> list[bytes]:
        """The stored keys of a table, sorted (hidden tables: their HMACs)."""
        with self._lock:
            agent = self._agent(agent_id, recheck=False)
            return [] if agent is None else sorted(agent.tables.get(table, {}))

    def put(self, agent_id: str, table: str, key: bytes, value: bytes) -> None:
        self.put_many(agent_id, table, [(key, value)])

    def put_many(self, agent_id: str, table: str, items: list[tuple[bytes, bytes]]) -> None:
        """Insert or replace rows of one agent's table (one statement for all)."""
        if _TABLE.fullmatch(table) is None:
            raise ValueError(f"table names are {_TABLE.pattern}")
        with self._lock, self.writing():
            agent = self._touch(agent_id)
            written = []
            for key, value in items:
                stored = self.row_key(agent_id, table, key)
                blob = self._vault.seal(
                    value,
                    agent_id=agent_id,
                    purpose=ROW_PURPOSE,
                    epoch=STATE_EPOCH,
                    context=_context(table, stored),
                )
                written.append((agent_id, table, stored, blob))
                self._set(agent_id, agent, table, stored, self._term(agent_id, table, stored, blob))
            self._staged += written

    def delete(self, agent_id: str, table: str, key: bytes) -> None:
        self.delete_many(agent_id, table, [self.row_key(agent_id, table, key)], stored=True)

    def delete_many(
        self, agent_id: str, table: str, keys: list[bytes], *, stored: bool = False
    ) -> None:
        """Delete rows by key (`stored`: keys as keys() lists them) if they exist."""
        with self._lock, self.writing():
            agent = self._touch(agent_id)
            rows = agent.tables.get(table, {})
            doomed = [k if stored else self.row_key(agent_id, table, k) for k in keys]
            doomed = [k for k in doomed if k in rows]
            if not doomed:
                return
            self._flush()
            self._db.executemany(
                "DELETE FROM sealed_rows WHERE agent_id = ? AND tbl = ? AND row_key = ?",
                [(agent_id, table, k) for k in doomed],
            )
            for key in doomed:
                self._set(agent_id, agent, table, key, None)

    def _set(self, agent_id: str, agent: _Agent, table: str, key: bytes, term: int | None) -> None:
        assert self._undo is not None
        rows = agent.tables.setdefault(table, {})
        old = rows.pop(key, None)
        if old is not None:
            agent.digest ^= old
        if term is not None:
            agent.digest ^= term
            rows[key] = term
        self._undo[agent_id].rows.append((table, key, old))
