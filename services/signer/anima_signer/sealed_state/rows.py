"""SealedState: sealed (agent, table, key) -> bytes rows in one SQLite file, and the
transactions that keep each agent's head in step with its rows."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from anima_signer.keys import KeyRing
from anima_signer.sealed_state.binding import (
    ROW_PURPOSE,
    STATE_EPOCH,
    TABLE_RULE,
    StateBinding,
    context,
)
from anima_signer.sealed_state.errors import (
    AgentStateMissing,
    AgentStateRolledBack,
    AgentStateTampered,
    StateManifestRefused,
)
from anima_signer.vault import Vault
from anima_signer_api.errors import AgentStateRefused

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


class SealedState:
    """Sealed (agent, table, key) -> bytes rows in one SQLite file. Thread-safe: one
    connection, one lock; writes that belong together run in one `transaction()`."""

    def __init__(self, *, path: Path, keyring: KeyRing, hidden_key_tables: frozenset[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._vault = Vault(keyring=keyring)
        self._binding = StateBinding(keyring=keyring, vault=self._vault)
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
        self._manifest = self._binding.read_manifest(self._db)
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
        generation, count, digest = self._binding.open_head(agent_id, head_blob)
        agent = _Agent(generation=generation, head_blob=head_blob, digest=0)
        rows = self._db.execute(
            "SELECT tbl, row_key, blob FROM sealed_rows WHERE agent_id = ?", (agent_id,)
        )
        for table, key, blob in rows:
            if not (isinstance(table, str) and isinstance(key, bytes) and isinstance(blob, bytes)):
                raise AgentStateTampered(agent_id, "a row of another type was written in its state")
            if TABLE_RULE.fullmatch(table) is None:  # (table, key) framing relies on the rule
                raise AgentStateTampered(agent_id, "a row names a table the enclave never writes")
            term = self._binding.term(agent_id, table, key, blob)
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
            self._manifest |= self._binding.read_manifest(self._db)
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
            self._manifest |= self._binding.read_manifest(
                self._db
            )  # an agent another process created
            try:
                known = self._agents[agent_id] = self._verified(agent_id, on_disk)
            except AgentStateRefused as refused:
                raise self._refuse(refused) from None
        if self._undo is not None:
            self._checked.add(agent_id)
        return known

    # ------------------------------------------------------------ transactions

    @contextmanager
    def transaction(
        self, after_commit: Callable[[], None] | None = None, *, durable: bool = True
    ) -> Iterator[None]:
        """All writes inside commit together, each touched agent's head with them, or
        none does. `after_commit` (and on_commit hooks) run once the commit is durable,
        still under the lock. `durable=False` skips this commit's fsync: WAL frames are
        written in order, so the next durable commit makes it durable too (for writes
        that may be lost in a power cut as long as nothing durable depends on them)."""
        with self._lock:
            if self._undo is not None:
                raise RuntimeError("SealedState transactions do not nest")
            self._undo, self._checked = {}, set()
            hooks: list[Callable[[], None]] = []
            self._after_commit = hooks
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
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
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")
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
            agents = self._binding.read_manifest(self._db) | self._manifest | new_agents
            self._binding.write_manifest(self._db, agents)
        for agent_id in self._undo:
            agent = self._agents[agent_id]
            agent.generation += 1
            agent.head_blob = self._binding.seal_head(
                agent_id, agent.generation, agent.count, agent.digest
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
        return self._binding.hidden_key(agent_id, table, key)

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
        return self.get_stored(agent_id, table, self.row_key(agent_id, table, key))

    def get_stored(self, agent_id: str, table: str, stored: bytes) -> bytes | None:
        """A row by its key as stored (`keys` lists them; hidden tables: the HMAC)."""
        with self._lock:
            agent = self._agent(agent_id, recheck=False)
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
        if (
            not isinstance(blob, bytes)
            or self._binding.term(agent_id, table, stored, blob) != expected
        ):
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
            context=context(table, stored),
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
        if TABLE_RULE.fullmatch(table) is None:
            raise ValueError(f"table names are {TABLE_RULE.pattern}")
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
                    context=context(table, stored),
                )
                written.append((agent_id, table, stored, blob))
                self._set(
                    agent_id,
                    agent,
                    table,
                    stored,
                    self._binding.term(agent_id, table, stored, blob),
                )
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
