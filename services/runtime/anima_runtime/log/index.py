"""The entry index and payload store of one agent log: SQLite in WAL mode.

`entries` holds each entry's decoded fields for filter queries; it is derived
data, rebuilt from the entry bundles for anything the checkpoint covers that
it lacks. `payloads` holds the bytes each entry commits to, keyed by index,
and is not derived: a payload is accepted only if its SHA-256 and size are the
entry's, and redaction deletes it (secure_delete, then a WAL checkpoint that
empties the WAL, so the bytes do not linger in free pages or the WAL; readers
in the middle of a query can hold that off, and a redaction that cannot finish
says so). The leaf commits to the hash alone, so proofs are unaffected.

Rows may run ahead of the published checkpoint (they are written before it);
every read takes the caller's checkpoint size as a bound.

The payloads are what users said: the database is owner-only (0600) before
SQLite first opens it, and its -wal and -shm files, which SQLite creates with
the database's mode, are too.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from anima_runtime.log.durable import FILE_MODE
from anima_runtime.log.errors import (
    EntryNotFound,
    PayloadMismatch,
    PayloadRedacted,
    RedactionIncomplete,
)
from anima_runtime_api.types import EntryFilter
from anima_verify.tlog.entry import LogEntry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    room TEXT NOT NULL,
    payload_sha256 BLOB NOT NULL,
    payload_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_room ON entries (room);
CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind);
CREATE INDEX IF NOT EXISTS entries_actor ON entries (actor);
CREATE INDEX IF NOT EXISTS entries_time ON entries (time_ms);
CREATE TABLE IF NOT EXISTS payloads (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS redactions (idx INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
"""
_BUSY_TIMEOUT_MS = 5000
_WAL_RETRY_S = 0.05


def _make_private(path: Path) -> None:
    """Create the database file owner-only, or make an existing one (and the -wal and
    -shm files an older version left readable) owner-only."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", FILE_MODE)


class EntryIndex:
    """One writer (the append path) and any number of reader threads.

    `wal_truncate_timeout_s`: how long a redaction waits for readers to let the
    WAL be emptied before it reports RedactionIncomplete.
    """

    def __init__(self, path: Path, *, wal_truncate_timeout_s: float = 5.0) -> None:
        self._path = path
        self._wal_truncate_timeout_s = wal_truncate_timeout_s
        _make_private(path)
        self._write = self._connect()
        self._write.executescript(_SCHEMA)
        self._write_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._readers_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # Payloads are not derived data: a commit is durable before the checkpoint.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._write.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._write.execute("BEGIN IMMEDIATE")
            try:
                yield self._write
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
            self._write.execute("COMMIT")

    # ------------------------------------------------------------ writing

    def indexed_size(self) -> int:
        """One past the highest indexed entry (entries are indexed in order, no gaps)."""
        row = self._write.execute("SELECT max(idx) FROM entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def truncate(self, size: int) -> None:
        """Forget index rows at or beyond `size` (written for a checkpoint that was
        never published). Payloads stay: the same entries come back from the enclave."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM entries WHERE idx >= ?", (size,))

    def add(self, entries: Sequence[LogEntry], payloads: Mapping[int, bytes]) -> None:
        """Index consecutive entries and store their payloads, in one transaction.

        A payload must match its entry's hash and size (PayloadMismatch, and
        nothing is stored). A payload already stored for one of these indices
        (from a batch that crashed before its checkpoint) is kept if it matches
        and deleted if not.
        """
        if not entries:
            return
        by_index = {e.index: e for e in entries}
        for index, payload in payloads.items():
            entry = by_index.get(index)
            if entry is None:
                raise PayloadMismatch(f"a payload for index {index} comes without its entry")
            if not entry.matches_payload(payload):
                raise PayloadMismatch(
                    f"the payload for entry {index} ({len(payload)} bytes) does not match "
                    f"the entry's sha256 {entry.payload_sha256.hex()} and size {entry.payload_size}"
                )
        first, last = entries[0].index, entries[-1].index
        with self._transaction() as conn:
            stale = conn.execute(
                "SELECT idx, data FROM payloads WHERE idx BETWEEN ? AND ?", (first, last)
            ).fetchall()
            for index, data in stale:
                entry = by_index.get(index)
                if index not in payloads and (entry is None or not entry.matches_payload(data)):
                    conn.execute("DELETE FROM payloads WHERE idx = ?", (index,))
            conn.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.index,
                        e.time_ms,
                        e.kind.value,
                        e.actor,
                        e.room,
                        e.payload_sha256,
                        e.payload_size,
                    )
                    for e in entries
                ],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO payloads VALUES (?, ?)", sorted(payloads.items())
            )

    def redact(self, index: int, *, at_ms: int) -> bool:
        """Delete the payload of `index`; False if it was already redacted.

        Either way the WAL is then emptied; RedactionIncomplete when readers keep
        it busy past the timeout (the payload is deleted, but a copy may remain
        in the WAL until a later redaction or checkpoint succeeds).
        """
        with self._transaction() as conn:
            done = conn.execute("SELECT 1 FROM redactions WHERE idx = ?", (index,)).fetchone()
            if not done:
                conn.execute("DELETE FROM payloads WHERE idx = ?", (index,))
                conn.execute("INSERT INTO redactions VALUES (?, ?)", (index, at_ms))
        if not self._truncate_wal():
            raise RedactionIncomplete(
                f"the payload of entry {index} is deleted, but readers kept the index's "
                "write-ahead log busy, so a copy may remain there; retry the redaction"
            )
        return not done

    def _truncate_wal(self) -> bool:
        """Copy the WAL into the database and empty it; False if readers kept it busy.

        The checkpoint reports busy instead of raising, so the result is checked
        and retried (with a short busy timeout, so the deadline holds).
        """
        deadline = time.monotonic() + self._wal_truncate_timeout_s
        with self._write_lock:
            self._write.execute(f"PRAGMA busy_timeout={int(_WAL_RETRY_S * 1000)}")
            try:
                while True:
                    busy, _, _ = self._write.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    if not busy:
                        return True
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(_WAL_RETRY_S)
            finally:
                self._write.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")

    # ------------------------------------------------------------ reading

    def search(self, terms: EntryFilter, *, after: int, below: int, limit: int) -> list[int]:
        """Indices of entries matching `terms` with after < index < below, in order."""
        clauses = ["idx > ?", "idx < ?"]
        args: list[object] = [after, below]
        for column, value in (("room", terms.room), ("actor", terms.actor)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if terms.kind is not None:
            clauses.append("kind = ?")
            args.append(terms.kind.value)
        if terms.since_ms is not None:
            clauses.append("time_ms >= ?")
            args.append(terms.since_ms)
        if terms.until_ms is not None:
            clauses.append("time_ms < ?")
            args.append(terms.until_ms)
        args.append(limit)
        rows = self._reader().execute(
            f"SELECT idx FROM entries WHERE {' AND '.join(clauses)} "  # noqa: S608 - fixed column names, values bound
            "ORDER BY idx LIMIT ?",
            args,
        )
        return [int(row[0]) for row in rows]

    def payload(self, index: int) -> bytes:
        conn = self._reader()
        row = conn.execute("SELECT data FROM payloads WHERE idx = ?", (index,)).fetchone()
        if row is not None:
            return bytes(row[0])
        if conn.execute("SELECT 1 FROM redactions WHERE idx = ?", (index,)).fetchone():
            raise PayloadRedacted(f"the payload of entry {index} was redacted")
        raise EntryNotFound(f"no payload is stored for entry {index}")

    def redacted(self, indices: Sequence[int]) -> set[int]:
        if not indices:
            return set()
        rows = self._reader().execute(
            "SELECT idx FROM redactions WHERE idx BETWEEN ? AND ?", (min(indices), max(indices))
        )
        return {int(r[0]) for r in rows}
