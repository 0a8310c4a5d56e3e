"""The transactions this service signed, by idempotency key (SQLite, one file).

A record is written after the enclave signed and before the transaction is
broadcast, so a crash or a retry never leads to a second, different transaction
for one key: a retry sends the same signed bytes again and waits for them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from anima_chain_api.types import TransactionIntent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
  key TEXT PRIMARY KEY,
  intent_digest BLOB NOT NULL,
  sender BLOB NOT NULL,
  nonce INTEGER NOT NULL,
  max_fee TEXT NOT NULL,
  tip TEXT NOT NULL,
  raw_transaction BLOB NOT NULL,
  transaction_hash BLOB NOT NULL,
  signature_log_index INTEGER NOT NULL
)
"""


def intent_digest(intent: TransactionIntent) -> bytes:
    """What the caller asked for (not the fees or nonce the service chose)."""
    canonical = {
        "agent": intent.agent_id,
        "wallet": intent.wallet_index,
        "to": intent.to.hex(),
        "value": str(intent.value),
        "data": intent.data.hex(),
        "gas_limit": intent.gas_limit,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).digest()


@dataclass(frozen=True, slots=True)
class SentRecord:
    key: str
    intent_digest: bytes
    sender: bytes
    nonce: int
    max_fee: int
    tip: int
    raw_transaction: bytes
    transaction_hash: bytes
    signature_log_index: int


class IntentStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a record must survive a crash
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def get(self, key: str) -> SentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, intent_digest, sender, nonce, max_fee, tip, raw_transaction,"
                " transaction_hash, signature_log_index FROM sent WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return SentRecord(
            key=row[0],
            intent_digest=row[1],
            sender=row[2],
            nonce=row[3],
            max_fee=int(row[4]),
            tip=int(row[5]),
            raw_transaction=row[6],
            transaction_hash=row[7],
            signature_log_index=row[8],
        )

    def put(self, record: SentRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sent VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.intent_digest,
                    record.sender,
                    record.nonce,
                    str(record.max_fee),
                    str(record.tip),
                    record.raw_transaction,
                    record.transaction_hash,
                    record.signature_log_index,
                ),
            )
