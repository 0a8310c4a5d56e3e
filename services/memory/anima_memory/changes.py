"""The memory change feed: a per-agent, strictly increasing change sequence.

Every write (create, import) and delete appends one change number per call
and a row per memory id to a SQLite journal beside the store, so DA sync can
ask "what changed after change N" instead of exporting every memory again.
Memories are never updated in place (a new memory gets a new id), so the
journal holds ids only and the memories themselves are read from the store.

The journal is written before the store, inside the agent's lock (the store
and the journal share no transaction): a crash between the two leaves a
change the store never saw, and `collapse` reads each id's state from the
store, so a change feed always reflects the store, never the journal alone.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anima_memory_api.errors import ChangeCursorAhead

Op = Literal["put", "del"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS heads (agent TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
  agent TEXT NOT NULL, seq INTEGER NOT NULL, memory_id TEXT NOT NULL, op TEXT NOT NULL,
  PRIMARY KEY (agent, seq, memory_id)
);
"""


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed for one agent in (since, sequence]: ids last written, ids deleted."""

    since: int
    sequence: int
    written: tuple[str, ...]  # created after `since` and not deleted since
    deleted: tuple[str, ...]  # existed at `since` and deleted (or replaced) since


class ChangeJournal:
    """Thread-safe (the service calls it from worker threads); `path` None: in memory."""

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False
        )
        self._lock = threading.Lock()
        # WAL without an fsync per commit (~0.09 ms a change instead of ~7 ms here,
        # on every memory write): SQLite keeps committed rows through a process
        # crash; a power cut may lose the last ones, and then the next snapshot
        # (da-sync's compaction) restates every memory, so the DA copy converges.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def head(self, agent_id: str) -> int:
        """The agent's latest change number; 0 before its first change."""
        with self._lock:
            return self._head(agent_id)

    def record(self, agent_id: str, op: Op, memory_ids: Sequence[str]) -> int:
        """Append one change for these ids; the new change number."""
        with self._lock, self._db:
            seq = self._head(agent_id) + 1
            self._db.execute(
                "INSERT INTO heads(agent, seq) VALUES (?, ?) "
                "ON CONFLICT(agent) DO UPDATE SET seq = excluded.seq",
                (agent_id, seq),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO changes(agent, seq, memory_id, op) VALUES (?, ?, ?, ?)",
                [(agent_id, seq, memory_id, op) for memory_id in memory_ids],
            )
            return seq

    def restart_at(self, agent_id: str, sequence: int) -> None:
        """An import continues the exporting store's sequence: forget this store's own
        changes for the agent (it had no memories) and start after `sequence`."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM changes WHERE agent = ?", (agent_id,))
            self._db.execute(
                "INSERT INTO heads(agent, seq) VALUES (?, ?) "
                "ON CONFLICT(agent) DO UPDATE SET seq = excluded.seq",
                (agent_id, sequence),
            )

    def since(self, agent_id: str, cursor: int) -> ChangeSet:
        """The ids changed after `cursor`, collapsed to their net effect (a memory
        created and deleted in the range is in neither list). ChangeCursorAhead if the
        cursor is past the head."""
        with self._lock:
            head = self._head(agent_id)
            if cursor > head:
                raise ChangeCursorAhead(
                    f"change cursor {cursor} is past agent {agent_id}'s latest change {head}"
                )
            rows = self._db.execute(
                "SELECT memory_id, op FROM changes WHERE agent = ? AND seq > ? ORDER BY seq",
                (agent_id, cursor),
            ).fetchall()
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for memory_id, op in rows:
            first.setdefault(memory_id, op)
            last[memory_id] = op
        # A memory existed at the cursor if its first change since is a delete.
        existed = {m for m, op in first.items() if op == "del"}
        written = tuple(sorted(m for m, op in last.items() if op == "put"))
        deleted = tuple(sorted(existed))  # deleted, or deleted and written again
        return ChangeSet(since=cursor, sequence=head, written=written, deleted=deleted)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _head(self, agent_id: str) -> int:
        row = self._db.execute("SELECT seq FROM heads WHERE agent = ?", (agent_id,)).fetchone()
        return int(row[0]) if row else 0
