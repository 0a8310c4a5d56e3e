"""The witness's durable state, in SQLite: the logs it knows, the latest checkpoint it
cosigned per log, and the evidence it kept of refused checkpoints.

Every change commits (WAL, synchronous=FULL: fsynced) before the answer leaves,
so a crash loses nothing a client was told. Checking a request against the latest
checkpoint and recording the new one happen under one lock and in one
transaction (`advance`), as C2SP tlog-witness requires: two racing requests
cannot roll the stored size back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from anima_verify.tlog.merkle import EMPTY_ROOT
from anima_verify.tlog.note import Verifier, parse_verifier_key
from anima_witness.errors import LogKeyConflict

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    verifier_key TEXT NOT NULL
);
-- The latest checkpoint cosigned per log: size, root and the note as the witness
-- serves it (the log's signature and this witness's cosignature).
CREATE TABLE IF NOT EXISTS latest (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL
);
-- Log-signed checkpoints the witness refused: a fork, an equivocation or a stale
-- (rolled back) log shows here, with the request as sent.
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    received_at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    request BLOB NOT NULL,
    latest_note BLOB
);
"""
#: Evidence rows kept per log: a replayed old checkpoint cannot fill the disk.
MAX_EVIDENCE_PER_LOG = 1000


@dataclass(frozen=True, slots=True)
class Latest:
    size: int
    root: bytes
    note: bytes | None  # None before the first cosigned checkpoint


NEVER_COSIGNED = Latest(size=0, root=EMPTY_ROOT, note=None)


@dataclass(frozen=True, slots=True)
class Evidence:
    origin: str
    received_at: float
    kind: str
    detail: str
    request: bytes
    latest_note: bytes | None


class WitnessStore:
    def __init__(self, *, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ logs

    def add_log(self, verifier_key: str) -> bool:
        """Trust a log's key for its origin (the key's name); False if already known.

        LogKeyConflict if the origin is known with another key: a log's key is fixed.
        """
        verifier = parse_verifier_key(verifier_key)
        canonical = str(verifier)
        with self._lock:
            row = self._db.execute(
                "SELECT verifier_key FROM logs WHERE origin = ?", (verifier.name,)
            ).fetchone()
            if row is not None:
                if row[0] != canonical:
                    raise LogKeyConflict(
                        f"the log {verifier.name!r} is known with another key; a log keeps its key"
                    )
                return False
            self._db.execute("INSERT INTO logs VALUES (?, ?)", (verifier.name, canonical))
        return True

    def origins(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT origin FROM latest ORDER BY origin").fetchall()
        return [str(r[0]) for r in rows]

    def log_verifier(self, origin: str) -> Verifier | None:
        with self._lock:
            row = self._db.execute(
                "SELECT verifier_key FROM logs WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else parse_verifier_key(row[0])

    # ------------------------------------------------------------ checkpoints

    def latest(self, origin: str) -> Latest:
        with self._lock:
            return self._latest(origin)

    def _latest(self, origin: str) -> Latest:
        row = self._db.execute(
            "SELECT size, root, note FROM latest WHERE origin = ?", (origin,)
        ).fetchone()
        if row is None:
            return NEVER_COSIGNED
        return Latest(size=int(row[0]), root=bytes(row[1]), note=bytes(row[2]))

    def advance(self, origin: str, decide: Callable[[Latest], tuple[Latest, T]]) -> T:
        """Atomically: read the latest checkpoint, let `decide` check the request
        against it (raising refuses it), and store the Latest it returns, durably."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                new, answer = decide(self._latest(origin))
                if new.note is None:
                    raise ValueError("a cosigned checkpoint has its note")
                self._db.execute(
                    "INSERT INTO latest VALUES (?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE "
                    "SET size = excluded.size, root = excluded.root, note = excluded.note",
                    (origin, new.size, new.root, new.note),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return answer

    # ------------------------------------------------------------ evidence

    def keep_evidence(
        self, origin: str, *, kind: str, detail: str, request: bytes, latest_note: bytes | None
    ) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO evidence (origin, received_at, kind, detail, request, "
                    "latest_note) VALUES (?, ?, ?, ?, ?, ?)",
                    (origin, time.time(), kind, detail, request, latest_note),
                )
                self._db.execute(
                    "DELETE FROM evidence WHERE origin = ? AND id NOT IN (SELECT id FROM "
                    "evidence WHERE origin = ? ORDER BY id DESC LIMIT ?)",
                    (origin, origin, MAX_EVIDENCE_PER_LOG),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        query = "SELECT origin, received_at, kind, detail, request, latest_note FROM evidence"
        args: tuple[str, ...] = ()
        if origin is not None:
            query += " WHERE origin = ?"
            args = (origin,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [
            Evidence(
                str(r[0]),
                float(r[1]),
                str(r[2]),
                str(r[3]),
                bytes(r[4]),
                None if r[5] is None else bytes(r[5]),
            )
            for r in rows
        ]
