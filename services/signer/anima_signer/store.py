"""The signer's durable state: agents, idempotency records and logs, sealed.

Every row is sealed inside the enclave and bound into its agent's sealed head
(anima_signer.sealed_state): the host's disk holds only ciphertext, and an edit,
a dropped or replayed row, or a row moved between agents refuses that agent
(AgentStateRefused) while the others keep working. SQLite underneath gives atomic
commits and survives kill -9; WAL keeps writes cheap, and synchronous=FULL makes
every commit durable before anything is answered.

One connection, one lock: writes that belong together (a log append, the
checkpoint it signs, the idempotency record of the signature it logs) run in
one `transaction()`. A table added here is a name and an encoding: it is sealed
like the others (hidden keys: HIDDEN_KEY_TABLES).
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anima_signer.keys import KeyRing
from anima_signer.sealed_state import SealedState
from anima_signer_api.errors import AgentExists, AgentStateRefused
from anima_signer_api.types import SequencedEntry, SigningPolicy, policy_as_dict

#: The file of the sealed state in the signer's state directory.
STATE_FILE = "signer-state.sqlite3"

_AGENT = "agent"  # one row per agent (key b""): StoredAgent as JSON
_IDEMPOTENCY = "idempotency"  # key: the caller's idempotency key (hidden)
_LOG = "log"  # one row per agent (key b""): LogStateRecord as JSON
# Entries [released, size) and the payloads the enclave wrote for them, one row per
# append (so sealing costs per batch, not per entry); key: first and last index.
_LOG_ENTRIES = "log_entries"
# The latest checkpoint a quorum of witnesses cosigned (the note with their
# cosignatures) and the Merkle frontier at its size, from which the next
# consistency proof to the witnesses starts (anima_signer.witnessing). Key b"".
_LOG_WITNESSED = "log_witnessed"
#: One row per recovered agent (key b""): recovery epoch (8 bytes) and its agent root.
_AGENT_ROOT = "agent_root"
_FENCED = "fenced"  # one row per agent (key b""): why its anchor fenced it here
_ESCROW = "escrow"  # one row per agent (key b""): its latest escrow (shares sealed to guardians)
# The owner's signed policy documents (key: version, 8 bytes), each spend window's
# charges still in it (key: window id; amounts decimal, wei overflows int64), and
# requests waiting for the owner's co-signature (key: approval id).
_POLICY_DOCUMENTS = "policy_documents"
_POLICY_WINDOW = "policy_window"
_POLICY_APPROVALS = "policy_approvals"
#: The agent's measurement policy (key b""): the enclaves its root may move to (recorded
#: by EscrowAgentRoot), and, once it moved to a peer, the handover (key b""): the
#: challenge, recipient and envelope, so a lost ExportAgent answer can be fetched again.
_MEASUREMENT_POLICY = "measurement_policy"
_MIGRATED = "migrated"
#: Rows that move with an agent to a peer enclave as they are (anima_signer.migration);
#: the idempotency records move by their keys (hidden here), the log and root are rewritten.
MOVABLE_TABLES = (_POLICY_DOCUMENTS, _POLICY_WINDOW, _POLICY_APPROVALS)
#: Tables whose keys the host must not read (idempotency keys are the caller's words).
HIDDEN_KEY_TABLES = frozenset({_IDEMPOTENCY})
_ONE = b""
_SPAN = struct.Struct(">QQ")
_LENGTH = struct.Struct(">I")
_EPOCH = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class StoredAgent:
    agent_id: str
    wallet_count: int
    policy: SigningPolicy
    created_at: datetime
    key_derivation_version: int
    owner: str | None = None  # the owner's address; None: the minimal gate governs


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A signed answer kept under the caller's idempotency key (a retry gets it back)."""

    key: str
    fingerprint: bytes  # of the request it answered (anima_signer.idempotency)
    response_json: str


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    agent_id: str
    version: int
    document: str
    owner_signature: bytes
    applied_at_ms: int


@dataclass(frozen=True, slots=True)
class StoredApproval:
    agent_id: str
    approval_id: str
    request_hash: bytes
    payload_json: str
    rule: str
    policy_version: int
    created_ms: int
    expires_ms: int
    used_ms: int | None = None


@dataclass(frozen=True, slots=True)
class LogStateRecord:
    agent_id: str
    origin: str
    frontier: bytes
    last_time_ms: int
    checkpoint: bytes
    released: int


def _policy_from_dict(raw: dict[str, Any]) -> SigningPolicy:
    return SigningPolicy(
        allowed_chain_ids=frozenset(int(c) for c in raw["allowed_chain_ids"]),
        max_value_wei=int(raw["max_value_wei"]),
        allow_personal_messages=bool(raw["allow_personal_messages"]),
        allow_typed_data=bool(raw["allow_typed_data"]),
        allow_raw_ed25519=bool(raw["allow_raw_ed25519"]),
    )


def agent_to_json(record: StoredAgent) -> bytes:
    return json.dumps(
        {
            "agent_id": record.agent_id,
            "wallet_count": record.wallet_count,
            "policy": policy_as_dict(record.policy),
            "created_at": record.created_at.isoformat(),
            "key_derivation_version": record.key_derivation_version,
            "owner": record.owner,
        },
        sort_keys=True,
    ).encode()


def agent_from_json(data: bytes) -> StoredAgent:
    raw = json.loads(data)
    return StoredAgent(
        agent_id=raw["agent_id"],
        wallet_count=int(raw["wallet_count"]),
        policy=_policy_from_dict(raw["policy"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        key_derivation_version=int(raw["key_derivation_version"]),
        owner=raw.get("owner"),
    )


def _log_to_json(record: LogStateRecord) -> bytes:
    return json.dumps(
        {
            "origin": record.origin,
            "frontier": record.frontier.hex(),
            "last_time_ms": record.last_time_ms,
            "checkpoint": record.checkpoint.hex(),
            "released": record.released,
        },
        sort_keys=True,
    ).encode()


def _log_from_json(agent_id: str, data: bytes) -> LogStateRecord:
    raw = json.loads(data)
    return LogStateRecord(
        agent_id=agent_id,
        origin=str(raw["origin"]),
        frontier=bytes.fromhex(raw["frontier"]),
        last_time_ms=int(raw["last_time_ms"]),
        checkpoint=bytes.fromhex(raw["checkpoint"]),
        released=int(raw["released"]),
    )


def _entries_row(rows: list[tuple[int, bytes, bytes | None]]) -> bytes:
    """Entries as one value: per entry its length and bytes, then its payload's
    length + 1 (0: none) and bytes."""
    parts = []
    for _, entry, payload in rows:
        parts += [_LENGTH.pack(len(entry)), entry]
        parts += [_LENGTH.pack(0)] if payload is None else [_LENGTH.pack(len(payload) + 1), payload]
    return b"".join(parts)


def _entries_from_row(row: bytes) -> list[SequencedEntry]:
    entries, at = [], 0
    while at < len(row):
        (length,) = _LENGTH.unpack_from(row, at)
        entry = row[at + _LENGTH.size : at + _LENGTH.size + length]
        at += _LENGTH.size + length
        (marker,) = _LENGTH.unpack_from(row, at)
        at += _LENGTH.size
        payload = None if marker == 0 else row[at : at + marker - 1]
        at += max(marker - 1, 0)
        entries.append(SequencedEntry(entry, payload))
    return entries


class SignerStore:
    def __init__(self, *, path: Path, keyring: KeyRing) -> None:
        self._state = SealedState(path=path, keyring=keyring, hidden_key_tables=HIDDEN_KEY_TABLES)
        self._agents: dict[str, StoredAgent] = {}
        # Inside a transaction, for its thread only: each window row as read or written
        # in it, so record_charges does not open again the rows window_usage just opened.
        self._windows: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._windows_thread: int | None = None
        for agent_id in self._state.agents():
            try:
                data = self._state.get(agent_id, _AGENT, _ONE)
            except AgentStateRefused:
                continue  # refused() says why
            if data is not None:
                self._agents[agent_id] = agent_from_json(data)

    def close(self) -> None:
        self._state.close()

    @contextmanager
    def transaction(self, after_commit: Callable[[], None] | None = None) -> Iterator[None]:
        """All writes inside commit together or not at all; other threads wait.

        `after_commit` (and what store methods register) runs once the commit is
        durable, still under the lock, so caches never show uncommitted state.
        """
        with self._state.transaction(after_commit):
            self._windows, self._windows_thread = {}, threading.get_ident()
            try:
                yield
            finally:
                self._windows, self._windows_thread = {}, None

    def refused(self) -> dict[str, AgentStateRefused]:
        """Agents whose sealed state was refused, with why (they are left out of agents())."""
        return self._state.refused()

    def add_agent(self, record: StoredAgent) -> None:
        if self._state.get(record.agent_id, _AGENT, _ONE) is not None:
            raise AgentExists(record.agent_id)
        self._state.put(record.agent_id, _AGENT, _ONE, agent_to_json(record))
        self._state.on_commit(lambda: self._agents.__setitem__(record.agent_id, record))

    def add_recovered_agent(self, record: StoredAgent, agent_root: bytes, epoch: int) -> None:
        """An agent restored from escrow: its root is not derivable here, so it is kept
        (sealed like every row) beside the record, with the recovery epoch it took over at."""
        self.add_agent(record)
        self._state.put(record.agent_id, _AGENT_ROOT, _ONE, _EPOCH.pack(epoch) + agent_root)

    def recovered_agent_root(self, agent_id: str) -> bytes | None:
        """The stored root of a recovered agent; None for agents created here."""
        row = self._state.get(agent_id, _AGENT_ROOT, _ONE)
        return None if row is None else row[_EPOCH.size :]

    def recovery_epoch(self, agent_id: str) -> int:
        """The recovery epoch this signer holds the agent at (0: created here)."""
        row = self._state.get(agent_id, _AGENT_ROOT, _ONE)
        return 0 if row is None else _EPOCH.unpack_from(row)[0]

    def fence(self, agent_id: str, detail: str) -> None:
        """Record durably that the agent's anchor moved on (this enclave stops for it)."""
        self._state.put(agent_id, _FENCED, _ONE, detail.encode())

    def fenced(self) -> dict[str, str]:
        """Agents fenced here, with why (anima_signer.core.Signer.apply_anchor)."""
        out = {}
        for record in self.agents():
            row = self._state.get(record.agent_id, _FENCED, _ONE)
            if row is not None:
                out[record.agent_id] = row.decode()
        return out

    def save_escrow(self, agent_id: str, threshold: int, sealed_shares: list[bytes]) -> None:
        """The agent's latest escrow: each share is sealed to its guardian (HPKE), so the
        row only keeps them at hand for a caller that lost the creation's answer."""
        doc = {"threshold": threshold, "shares": [s.hex() for s in sealed_shares]}
        self._state.put(agent_id, _ESCROW, _ONE, json.dumps(doc).encode())

    def escrow(self, agent_id: str) -> tuple[int, list[bytes]] | None:
        row = self._state.get(agent_id, _ESCROW, _ONE)
        if row is None:
            return None
        doc = json.loads(row)
        return int(doc["threshold"]), [bytes.fromhex(s) for s in doc["shares"]]

    def agent(self, agent_id: str) -> StoredAgent | None:
        """The agent, None if unknown; AgentStateRefused if its state was refused."""
        record = self._agents.get(agent_id)
        if record is None:
            self._state.check_agent(agent_id)
        return record

    def agents(self) -> list[StoredAgent]:
        refused = self._state.refused()
        return sorted(
            (r for r in self._agents.values() if r.agent_id not in refused),
            key=lambda r: r.agent_id,
        )

    def idempotent_response(self, agent_id: str, key: str) -> tuple[bytes, str] | None:
        """(request fingerprint, stored response JSON) for a key already used."""
        data = self._state.get(agent_id, _IDEMPOTENCY, key.encode())
        if data is None:
            return None
        raw = json.loads(data)
        return bytes.fromhex(raw["fingerprint"]), str(raw["response"])

    def save_idempotent_response(
        self, agent_id: str, key: str, fingerprint: bytes, response_json: str
    ) -> None:
        record = {
            "fingerprint": fingerprint.hex(),
            "response": response_json,
            "created_at": datetime.now(UTC).isoformat(),
            "key": key,  # kept (sealed) so the record travels: life data, migration
        }
        self._state.put(agent_id, _IDEMPOTENCY, key.encode(), json.dumps(record).encode())

    def idempotency_records(self, agent_id: str) -> list[IdempotencyRecord]:
        """The agent's stored answers by idempotency key, for its signer-state chunk.
        Records written before keys were kept in them cannot be re-keyed: left out."""
        records = []
        for stored in self._state.keys(agent_id, _IDEMPOTENCY):
            data = self._state.get_stored(agent_id, _IDEMPOTENCY, stored)
            raw = {} if data is None else json.loads(data)
            if "key" in raw:
                records.append(
                    IdempotencyRecord(
                        key=str(raw["key"]),
                        fingerprint=bytes.fromhex(raw["fingerprint"]),
                        response_json=str(raw["response"]),
                    )
                )
        return sorted(records, key=lambda r: r.key)

    # ------------------------------------------------------------ owner policies

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the current transaction commits (at once outside one)."""
        self._state.on_commit(hook)

    def active_policy(self, agent_id: str) -> StoredPolicy | None:
        """The highest-version document applied for the agent."""
        versions = self._state.keys(agent_id, _POLICY_DOCUMENTS)
        if not versions:
            return None
        latest = max(versions, key=lambda k: _EPOCH.unpack(k)[0])
        data = self._state.get(agent_id, _POLICY_DOCUMENTS, latest)
        if data is None:
            return None
        raw = json.loads(data)
        return StoredPolicy(
            agent_id,
            _EPOCH.unpack(latest)[0],
            str(raw["document"]),
            bytes.fromhex(raw["owner_signature"]),
            int(raw["applied_at_ms"]),
        )

    def add_policy(self, record: StoredPolicy) -> None:
        """Inside the transaction that logs the change; a version is applied once."""
        key = _EPOCH.pack(record.version)
        if self._state.get(record.agent_id, _POLICY_DOCUMENTS, key) is not None:
            raise ValueError(f"policy version {record.version} is already applied")
        value = {
            "document": record.document,
            "owner_signature": record.owner_signature.hex(),
            "applied_at_ms": record.applied_at_ms,
        }
        self._state.put(record.agent_id, _POLICY_DOCUMENTS, key, json.dumps(value).encode())

    def _window_rows(self) -> dict[tuple[str, str], list[tuple[int, int]]] | None:
        """The window rows of the transaction this thread runs; None outside one."""
        return self._windows if self._windows_thread == threading.get_ident() else None

    def _window_charges(self, agent_id: str, window_id: str) -> list[tuple[int, int]]:
        rows = self._window_rows()
        known = None if rows is None else rows.get((agent_id, window_id))
        if known is not None:
            return known
        data = self._state.get(agent_id, _POLICY_WINDOW, window_id.encode())
        charges = [] if data is None else [(int(t), int(a)) for t, a in json.loads(data)]
        if rows is not None:
            rows[(agent_id, window_id)] = charges
        return charges

    def _put_window(self, agent_id: str, window_id: str, charges: list[tuple[int, int]]) -> None:
        value = json.dumps([[t, str(a)] for t, a in charges]).encode()
        self._state.put(agent_id, _POLICY_WINDOW, window_id.encode(), value)
        rows = self._window_rows()
        if rows is not None:
            rows[(agent_id, window_id)] = charges

    def window_usage(self, agent_id: str, window_id: str, since_ms: int) -> tuple[int, int]:
        """(total amount, count) charged to a window at or after since_ms.

        Charges older than since_ms leave the window as they expire. Call inside a
        transaction (the expiry rewrites the window's sealed row)."""
        charges = self._window_charges(agent_id, window_id)
        live = [(t, a) for t, a in charges if t >= since_ms]
        if len(live) != len(charges):
            self._put_window(agent_id, window_id, live)
        return sum(a for _, a in live), len(live)

    def record_charges(self, time_ms: int, charges: list[tuple[str, str, int]]) -> None:
        """Window charges (agent, window, amount), added to each window's row (whose
        running total follows from them); inside the transaction that logs the
        signatures charged."""
        by_window: dict[tuple[str, str], list[int]] = {}
        for agent, window, amount in charges:
            by_window.setdefault((agent, window), []).append(amount)
        for (agent, window), amounts in by_window.items():
            kept = self._window_charges(agent, window)
            self._put_window(agent, window, kept + [(time_ms, a) for a in amounts])

    def add_approval(self, record: StoredApproval) -> None:
        self._put_approval(record)

    def _put_approval(self, record: StoredApproval) -> None:
        value = {
            "request_hash": record.request_hash.hex(),
            "payload_json": record.payload_json,
            "rule": record.rule,
            "policy_version": record.policy_version,
            "created_ms": record.created_ms,
            "expires_ms": record.expires_ms,
            "used_ms": record.used_ms,
        }
        key = record.approval_id.encode()
        self._state.put(record.agent_id, _POLICY_APPROVALS, key, json.dumps(value).encode())

    def approvals(
        self, agent_id: str, *, request_hash: bytes | None = None, open_at_ms: int | None = None
    ) -> list[StoredApproval]:
        """The agent's approvals, oldest first; only unused and unexpired ones at
        `open_at_ms` when given; only those for `request_hash` when given."""
        found = []
        for key in self._state.keys(agent_id, _POLICY_APPROVALS):
            data = self._state.get(agent_id, _POLICY_APPROVALS, key)
            if data is None:
                continue
            raw = json.loads(data)
            approval = StoredApproval(
                agent_id,
                key.decode(),
                bytes.fromhex(raw["request_hash"]),
                str(raw["payload_json"]),
                str(raw["rule"]),
                int(raw["policy_version"]),
                int(raw["created_ms"]),
                int(raw["expires_ms"]),
                None if raw["used_ms"] is None else int(raw["used_ms"]),
            )
            if request_hash is not None and approval.request_hash != request_hash:
                continue
            if open_at_ms is not None and (
                approval.used_ms is not None or approval.expires_ms <= open_at_ms
            ):
                continue
            found.append(approval)
        return sorted(found, key=lambda a: (a.created_ms, a.approval_id))

    def approval(self, agent_id: str, approval_id: str) -> StoredApproval | None:
        found = [a for a in self.approvals(agent_id) if a.approval_id == approval_id]
        return found[0] if found else None

    def use_approval(self, agent_id: str, approval_id: str, now_ms: int) -> bool:
        """Mark an open approval used (inside the signature's commit); False if it was
        used already or has expired."""
        approval = self.approval(agent_id, approval_id)
        if approval is None or approval.used_ms is not None or approval.expires_ms <= now_ms:
            return False
        self._put_approval(
            StoredApproval(
                approval.agent_id,
                approval.approval_id,
                approval.request_hash,
                approval.payload_json,
                approval.rule,
                approval.policy_version,
                approval.created_ms,
                approval.expires_ms,
                now_ms,
            )
        )
        return True

    # ------------------------------------------------------------ logs

    def log_state(self, agent_id: str) -> LogStateRecord | None:
        data = self._state.get(agent_id, _LOG, _ONE)
        return None if data is None else _log_from_json(agent_id, data)

    def log_origin(self, agent_id: str) -> str | None:
        """The origin the agent's log started with; None for an agent without a log."""
        record = self.log_state(agent_id)
        return None if record is None else record.origin

    def agents_without_log(self) -> list[str]:
        return [r.agent_id for r in self.agents() if self.log_state(r.agent_id) is None]

    def put_log_state(self, record: LogStateRecord) -> None:
        """Insert or update; an existing log keeps its origin."""
        existing = self.log_state(record.agent_id)
        if existing is not None and existing.origin != record.origin:
            record = LogStateRecord(
                agent_id=record.agent_id,
                origin=existing.origin,
                frontier=record.frontier,
                last_time_ms=record.last_time_ms,
                checkpoint=record.checkpoint,
                released=record.released,
            )
        self._state.put(record.agent_id, _LOG, _ONE, _log_to_json(record))

    def add_pending(self, agent_id: str, rows: list[tuple[int, bytes, bytes | None]]) -> None:
        """Entries with consecutive indices, as the sequencer appends them."""
        if [index for index, _, _ in rows] != list(range(rows[0][0], rows[0][0] + len(rows))):
            raise ValueError("pending entries must have consecutive indices")
        span = _SPAN.pack(rows[0][0], rows[-1][0])
        self._state.put(agent_id, _LOG_ENTRIES, span, _entries_row(rows))

    def _spans(self, agent_id: str) -> list[tuple[int, int, bytes]]:
        spans = [(*_SPAN.unpack(k), k) for k in self._state.keys(agent_id, _LOG_ENTRIES)]
        return sorted(spans)

    def release_pending(self, agent_id: str, below: int) -> None:
        """Forget entries below `below` (a row goes once all its entries are below)."""
        done = [key for _, last, key in self._spans(agent_id) if last < below]
        self._state.delete_many(agent_id, _LOG_ENTRIES, done)

    def pending(self, agent_id: str, start: int, end: int) -> list[SequencedEntry]:
        """Stored entries [start, end) in order."""
        found: list[SequencedEntry] = []
        for first, last, key in self._spans(agent_id):
            if last < start or first >= end:
                continue
            row = self._state.get(agent_id, _LOG_ENTRIES, key)
            entries = [] if row is None else _entries_from_row(row)
            if len(entries) != last - first + 1:
                raise RuntimeError(f"the stored log tail of agent {agent_id!r} is inconsistent")
            found += entries[max(start - first, 0) : end - first]
        return found

    # ------------------------------------------------------------ witnessing

    def witnessed(self, agent_id: str) -> tuple[bytes, bytes] | None:
        """(frontier, cosigned note) of the agent's latest witnessed checkpoint."""
        data = self._state.get(agent_id, _LOG_WITNESSED, _ONE)
        if data is None:
            return None
        (length,) = _LENGTH.unpack_from(data)
        return data[_LENGTH.size : _LENGTH.size + length], data[_LENGTH.size + length :]

    def put_witnessed(self, agent_id: str, frontier: bytes, note: bytes) -> None:
        """Committed without its own fsync: the next ordinary commit makes it durable,
        and the host can confirm entries (release them here) only in such a later
        commit, so a power cut never leaves the released size above the durable
        witnessed size. Lost, the row only sends the next round from the older size
        (the witnesses answer 409 with theirs, and the entries to prove from are held)."""
        with self._state.transaction(durable=False):
            value = _LENGTH.pack(len(frontier)) + frontier + note
            self._state.put(agent_id, _LOG_WITNESSED, _ONE, value)

    def log_since(self, agent_id: str, start: int) -> tuple[bytes, bytes, list[SequencedEntry]]:
        """(latest signed checkpoint, its frontier, entries [start, size)), read at one
        moment (under the store's lock, between transactions)."""
        with self._state.transaction():
            record = self.log_state(agent_id)
            if record is None:
                raise RuntimeError(f"agent {agent_id!r} has no log")
            size = int.from_bytes(record.frontier[:8], "big")
            return record.checkpoint, record.frontier, self.pending(agent_id, start, size)

    # ------------------------------------------------------------ peer migration

    def measurement_policy(self, agent_id: str) -> str | None:
        """The agent's measurement policy JSON (None: never recorded)."""
        data = self._state.get(agent_id, _MEASUREMENT_POLICY, _ONE)
        return None if data is None else data.decode()

    def put_measurement_policy(self, agent_id: str, policy_json: str) -> None:
        self._state.put(agent_id, _MEASUREMENT_POLICY, _ONE, policy_json.encode())

    def migrated(self, agent_id: str) -> bytes | None:
        """The handover record of an agent that moved to a peer (None: it did not)."""
        return self._state.get(agent_id, _MIGRATED, _ONE)

    def put_migrated(self, agent_id: str, record: bytes) -> None:
        self._state.put(agent_id, _MIGRATED, _ONE, record)

    def movable_rows(self, agent_id: str) -> dict[str, list[tuple[bytes, bytes]]]:
        """The agent's rows that move to a peer as they are, by table."""
        out: dict[str, list[tuple[bytes, bytes]]] = {}
        for table in MOVABLE_TABLES:
            rows = []
            for key in self._state.keys(agent_id, table):
                value = self._state.get(agent_id, table, key)
                if value is not None:
                    rows.append((key, value))
            out[table] = rows
        return out

    def idempotency_rows(self, agent_id: str) -> list[tuple[str, bytes]]:
        """(caller's key, stored record) for each record that names its key (records
        from before keys were kept in them cannot move: their keys are hidden)."""
        out = []
        for hidden in self._state.keys(agent_id, _IDEMPOTENCY):
            value = self._state.get_stored(agent_id, _IDEMPOTENCY, hidden)
            if value is not None and isinstance(key := json.loads(value).get("key"), str):
                out.append((key, value))
        return out

    def add_migrated_agent(
        self,
        record: StoredAgent,
        *,
        agent_root: bytes,
        epoch: int,
        policy_json: str,
        rows: dict[str, list[tuple[bytes, bytes]]],
        idempotency: list[tuple[str, bytes]],
    ) -> None:
        """An agent moved here from a peer: its record and root (as a recovered one),
        its measurement policy and its movable rows; inside the import's transaction."""
        unknown = set(rows) - set(MOVABLE_TABLES)
        if unknown:
            raise ValueError(f"tables {sorted(unknown)} do not move with an agent")
        self.add_recovered_agent(record, agent_root, epoch)
        self.put_measurement_policy(record.agent_id, policy_json)
        for table, items in rows.items():
            if items:
                self._state.put_many(record.agent_id, table, items)
        if idempotency:
            self._state.put_many(
                record.agent_id, _IDEMPOTENCY, [(k.encode(), v) for k, v in idempotency]
            )
