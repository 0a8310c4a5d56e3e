"""The log sequencer: per agent, the enclave assigns indices and signs checkpoints.

For each agent the enclave keeps the compact Merkle frontier, the last entry
time, the latest signed checkpoint and the tail of entries the host has not yet
confirmed as stored. Every change is one SQLite transaction committed before
anything is answered, so a kill -9 loses no entry whose checkpoint left the
enclave, and the frontier survives restarts.

Invariants:
- a checkpoint is signed only when the size grew, so no size ever gets two roots;
  every batch re-reads each log it touches inside its write transaction and
  refuses to extend a cached frontier the store no longer holds (another
  process wrote it; Signer.open also locks the state directory against that);
- a log's origin, hence its note key name, is fixed when the log starts;
- entry time never goes backwards (max of the clock and the last entry's time);
- ENCLAVE_ONLY_KINDS and ENCLAVE_ACTOR (anima_verify.tlog.entry) are the
  enclave's alone: a verifier can trust that such entries came from here. The
  host's actors and rooms are visible NFKC text, and no actor reads like
  ENCLAVE_ACTOR ("Signer", zero-width or fullwidth spellings): checked here,
  since the host is not trusted to have checked (anima_verify.tlog.labels).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from anima_signer.keys import KeyRing
from anima_signer.store import LogStateRecord, SignerStore
from anima_signer_api.errors import (
    InvalidRequest,
    LogChangedElsewhere,
    LogStateMismatch,
    LogTailFull,
    SignerError,
)
from anima_signer_api.types import (
    MAX_APPEND_ENTRIES,
    MAX_ENCLAVE_PAYLOAD_BYTES,
    MAX_PENDING_LOG_ENTRIES,
    LogAppendResult,
    LogEntryInput,
    SequencedEntry,
)
from anima_verify.tlog.checkpoint import Checkpoint
from anima_verify.tlog.entry import (
    ENCLAVE_ACTOR,
    MAX_ENTRY_BYTES,
    EntryKind,
    LogEntry,
    check_host_writable,
)
from anima_verify.tlog.errors import MalformedEntry
from anima_verify.tlog.merkle import CompactRange, leaf_hash
from anima_verify.tlog.note import sign_note


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _AgentLog:
    """One agent's log state; a batch works on a copy and publishes it on commit."""

    origin: str
    frontier: CompactRange
    last_time_ms: int
    checkpoint: bytes
    released: int
    new_rows: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    new_leaves: list[bytes] = field(default_factory=list)  # leaf hashes of new_rows
    changed: bool = False

    @classmethod
    def from_record(cls, record: LogStateRecord) -> _AgentLog:
        return cls(
            record.origin,
            CompactRange.from_bytes(record.frontier),
            record.last_time_ms,
            record.checkpoint,
            record.released,
        )

    def record(self, agent_id: str) -> LogStateRecord:
        return LogStateRecord(
            agent_id=agent_id,
            origin=self.origin,
            frontier=self.frontier.to_bytes(),
            last_time_ms=self.last_time_ms,
            checkpoint=self.checkpoint,
            released=self.released,
        )

    @property
    def size(self) -> int:
        return self.frontier.size

    def working_copy(self) -> _AgentLog:
        return _AgentLog(
            self.origin, self.frontier.copy(), self.last_time_ms, self.checkpoint, self.released
        )


class LogBatch:
    """Appends inside one store transaction; see EnclaveLogs.batch."""

    def __init__(self, sequencer: EnclaveLogs) -> None:
        self._sequencer = sequencer
        self._now_ms: int | None = None  # read once, at the first append (under the lock)
        self._logs: dict[str, _AgentLog] = {}

    def log(self, agent_id: str) -> _AgentLog:
        closed = self._sequencer._closed.get(agent_id)
        if closed is not None:  # handed over: nothing more goes into it here
            raise closed
        log = self._logs.get(agent_id)
        if log is None:
            log = self._sequencer._committed(agent_id).working_copy()
            self._logs[agent_id] = log
        return log

    def create(self, agent_id: str, *, origin: str) -> None:
        """Start an empty log for a new agent (its first entry follows at once)."""
        if self._sequencer._store.log_origin(agent_id) is not None:
            raise LogChangedElsewhere(agent_id, "another process started its log")
        self._logs[agent_id] = _AgentLog(origin, CompactRange(), 0, b"", 0, changed=True)

    def restore(
        self, agent_id: str, *, origin: str, frontier: CompactRange, checkpoint: bytes
    ) -> None:
        """Continue a recovered agent's log: the verified tree, which the host already holds."""
        if self._sequencer._store.log_origin(agent_id) is not None:
            raise LogChangedElsewhere(agent_id, "another process started its log")
        size = frontier.size
        self._logs[agent_id] = _AgentLog(origin, frontier, 0, checkpoint, size, changed=True)

    def handover(self, agent_id: str) -> tuple[LogStateRecord, tuple[SequencedEntry, ...]]:
        """The log as this batch will commit it (checkpoint signed: Ed25519 is
        deterministic, so _write signs the same note) and the tail the host has not
        stored: what moves to a peer enclave (anima_signer.migration)."""
        log = self.log(agent_id)
        if log.new_rows:
            log.checkpoint = self._sequencer._sign_checkpoint(agent_id, log)
        return log.record(agent_id), self.tail(agent_id, log.released)

    def import_log(
        self, agent_id: str, *, record: LogStateRecord, tail: Sequence[SequencedEntry]
    ) -> None:
        """Continue a log moved here from a peer enclave: its frontier, checkpoint and
        entry time, and the tail its host had not stored yet (kept here for this host)."""
        if self._sequencer._store.log_origin(agent_id) is not None:
            raise LogChangedElsewhere(agent_id, "another process started its log")
        frontier = CompactRange.from_bytes(record.frontier)
        if record.released + len(tail) != frontier.size:
            raise InvalidRequest("the moved log's tail does not end at its size")
        if tail:
            rows = [(record.released + i, e.entry, e.payload) for i, e in enumerate(tail)]
            self._sequencer._store.add_pending(agent_id, rows)
        self._logs[agent_id] = _AgentLog(
            record.origin,
            frontier,
            record.last_time_ms,
            record.checkpoint,
            record.released,
            changed=True,
        )

    def confirm(self, agent_id: str, host_size: int) -> None:
        """Record that the host stored [0, host_size) durably; release what it holds."""
        log = self.log(agent_id)
        if host_size > log.size:
            raise LogStateMismatch(
                f"host_size {host_size} is larger than the log of agent {agent_id!r}, "
                f"which has {log.size} entries: the host's log is not this enclave's"
            )
        if host_size < log.released:
            raise LogStateMismatch(
                f"host_size {host_size} is below {log.released}, the size the host already "
                f"confirmed as stored for agent {agent_id!r}: the host lost entries "
                f"[{host_size}, {log.released}); restore its log storage"
            )
        if host_size > log.released:
            log.released = host_size
            log.changed = True
            self._sequencer._store.release_pending(agent_id, host_size)

    def reserve(self, agent_id: str, count: int) -> None:
        log = self.log(agent_id)
        pending = log.size - log.released
        if pending + count > MAX_PENDING_LOG_ENTRIES:
            raise LogTailFull(
                agent_id, pending=pending, adding=count, limit=MAX_PENDING_LOG_ENTRIES
            )

    def append(
        self,
        agent_id: str,
        *,
        kind: EntryKind,
        actor: str,
        room: str,
        payload_sha256: bytes,
        payload_size: int,
        payload: bytes | None = None,
    ) -> int:
        """Sequence one entry; the caller has reserved room for it."""
        log = self.log(agent_id)
        index = log.size
        if self._now_ms is None:
            self._now_ms = self._sequencer._clock_ms()
        log.last_time_ms = max(self._now_ms, log.last_time_ms)
        entry = LogEntry(
            agent=agent_id,
            index=index,
            time_ms=log.last_time_ms,
            kind=kind,
            actor=actor,
            room=room,
            payload_sha256=payload_sha256,
            payload_size=payload_size,
        ).encode()
        if len(entry) > MAX_ENTRY_BYTES:
            raise InvalidRequest(
                f"the encoded entry is {len(entry)} bytes, above {MAX_ENTRY_BYTES}: "
                "shorten actor or room"
            )
        leaf = leaf_hash(entry)
        log.frontier.append(leaf)
        log.new_rows.append((index, entry, payload))
        log.new_leaves.append(leaf)
        log.changed = True
        return index

    def append_enclave(self, agent_id: str, kind: EntryKind, payload: bytes) -> int:
        """An entry the enclave writes itself, with its payload kept for the host."""
        if len(payload) > MAX_ENCLAVE_PAYLOAD_BYTES:
            raise ValueError(f"enclave payloads stay below {MAX_ENCLAVE_PAYLOAD_BYTES} bytes")
        self.reserve(agent_id, 1)
        return self.append(
            agent_id,
            kind=kind,
            actor=ENCLAVE_ACTOR,
            room="",
            payload_sha256=hashlib.sha256(payload).digest(),
            payload_size=len(payload),
            payload=payload,
        )

    def tail(self, agent_id: str, start: int) -> tuple[SequencedEntry, ...]:
        """Entries [start, size): stored ones, then this batch's."""
        log = self.log(agent_id)
        fresh_start = log.new_rows[0][0] if log.new_rows else log.size
        stored: list[SequencedEntry] = []
        if start < fresh_start:
            stored = self._sequencer._store.pending(agent_id, start, fresh_start)
            if len(stored) != fresh_start - start:
                raise RuntimeError(f"the stored log tail of agent {agent_id!r} has gaps")
        fresh = [SequencedEntry(entry, payload) for i, entry, payload in log.new_rows if i >= start]
        return (*stored, *fresh)

    def _write(self) -> None:
        """Sign a checkpoint for each log that grew and stage every change."""
        store = self._sequencer._store
        for agent_id, log in self._logs.items():
            if not log.changed:
                continue
            if log.new_rows:
                log.checkpoint = self._sequencer._sign_checkpoint(agent_id, log)
                store.add_pending(agent_id, log.new_rows)
            store.put_log_state(log.record(agent_id))

    def _publish(self) -> None:
        sequencer = self._sequencer
        with sequencer._cache_lock:
            for agent_id, log in self._logs.items():
                if log.changed:
                    sequencer._logs[agent_id] = log.working_copy()
                    sequencer._keep_leaves(agent_id, log)

    def checkpoint(self, agent_id: str) -> bytes:
        return self.log(agent_id).checkpoint


class EnclaveLogs:
    """Every agent's log, durable in the signer's store. Thread-safe."""

    def __init__(
        self,
        *,
        store: SignerStore,
        keyring: KeyRing,
        clock_ms: Callable[[], int] = wall_clock_ms,
        keep_leaves: bool = False,
    ) -> None:
        self._store = store
        self._keys = keyring
        self._clock_ms = clock_ms
        # Committed state only; written under the store's lock (and _cache_lock).
        self._logs: dict[str, _AgentLog] = {}
        # With keep_leaves: per agent, (first index, leaf hashes of the committed entries
        # from there to the log's size), for the witness rounds (leaves_since). The
        # entries the host has not confirmed at most (MAX_PENDING_LOG_ENTRIES).
        self._keep = keep_leaves
        self._leaves: dict[str, tuple[int, list[bytes]]] = {}
        self._cache_lock = threading.Lock()
        # Logs this enclave no longer extends (the agent moved to a peer), and why.
        self._closed: dict[str, SignerError] = {}

    def close(self, agent_id: str, reason: SignerError) -> None:
        """Extend this agent's log no more: every later batch that touches it raises
        `reason` (set under the store's lock, on the commit of the handover entry)."""
        self._closed[agent_id] = reason
        self._logs.pop(agent_id, None)
        with self._cache_lock:
            self._leaves.pop(agent_id, None)

    @contextmanager
    def batch(self) -> Iterator[LogBatch]:
        """One transaction: appends from the body, then a checkpoint per grown log.

        An exception in the body leaves every log exactly as it was.
        """
        batch = LogBatch(self)
        with self._store.transaction(after_commit=batch._publish):
            yield batch
            batch._write()

    def _committed(self, agent_id: str) -> _AgentLog:
        """The agent's committed log, as the store holds it; only inside a write transaction.

        The cache saves decoding, never a read: a frontier another process has
        extended since must not be extended again from here, or one size would
        get two roots. Such a log is dropped from the cache and refused once.
        """
        record = self._store.log_state(agent_id)
        if record is None:
            raise RuntimeError(f"agent {agent_id!r} has no log")
        log = self._logs.get(agent_id)
        if log is not None and log.record(agent_id) != record:
            with self._cache_lock:  # the next batch starts from the store
                del self._logs[agent_id]
                self._leaves.pop(agent_id, None)
            stored = CompactRange.from_bytes(record.frontier).size
            raise LogChangedElsewhere(
                agent_id,
                f"this signer last saw {log.size} entries, {log.released} stored by the host; "
                f"the store holds {stored} entries, {record.released} stored by the host",
            )
        if log is None:
            log = _AgentLog.from_record(record)
            self._logs[agent_id] = log
        return log

    def _keep_leaves(self, agent_id: str, log: _AgentLog) -> None:
        """Add a committed batch's leaf hashes; forget those the host confirmed.
        Under _cache_lock (readers copy what they take)."""
        if not self._keep:
            return
        held = self._leaves.get(agent_id)
        if log.new_leaves:
            first = log.new_rows[0][0]
            if held is None or held[0] + len(held[1]) != first:
                held = (first, [])  # the first batch since this log was loaded
            held[1].extend(log.new_leaves)
        if held is None:
            return
        start, leaves = held
        if log.released > start:
            drop = min(log.released - start, len(leaves))
            del leaves[:drop]
            start += drop
        self._leaves[agent_id] = (start, leaves)

    def leaves_since(self, agent_id: str, start: int) -> tuple[bytes, bytes, list[bytes]] | None:
        """(latest committed checkpoint, its frontier, leaf hashes [start, size)) from
        memory, read at one moment; None when they are not all held here (after a
        restart, say: read the entries from the store then)."""
        with self._cache_lock:
            log = self._logs.get(agent_id)
            held = self._leaves.get(agent_id)
            if log is None or held is None:
                return None
            first, leaves = held
            if not first <= start <= log.size or first + len(leaves) != log.size:
                return None
            return log.checkpoint, log.frontier.to_bytes(), leaves[start - first :]

    def _sign_checkpoint(self, agent_id: str, log: _AgentLog) -> bytes:
        checkpoint = Checkpoint(origin=log.origin, size=log.size, root_hash=log.frontier.root())
        key = self._keys.log_key(agent_id)
        return sign_note(checkpoint.to_text(), name=log.origin, private_key=key).to_bytes()

    def append(
        self, agent_id: str, host_size: int, inputs: Sequence[LogEntryInput]
    ) -> LogAppendResult:
        """The host's AppendLog; see the proto for the contract."""
        if len(inputs) > MAX_APPEND_ENTRIES:
            raise InvalidRequest(
                f"{len(inputs)} entries in one append; the limit is {MAX_APPEND_ENTRIES}"
            )
        if host_size < 0:
            raise InvalidRequest("host_size must not be negative")
        for position, item in enumerate(inputs):
            _check_input(position, item)
        with self.batch() as batch:
            batch.confirm(agent_id, host_size)
            batch.reserve(agent_id, len(inputs))
            first_index = batch.log(agent_id).size
            for position, item in enumerate(inputs):
                try:
                    batch.append(
                        agent_id,
                        kind=item.kind,
                        actor=item.actor,
                        room=item.room,
                        payload_sha256=item.payload_sha256,
                        payload_size=item.payload_size,
                    )
                except (InvalidRequest, MalformedEntry) as exc:
                    raise InvalidRequest(f"entries[{position}]: {exc.message}") from exc
            entries = batch.tail(agent_id, host_size)
        return LogAppendResult(
            first_index=first_index,
            size=batch.log(agent_id).size,
            entries=entries,
            checkpoint=batch.checkpoint(agent_id),
        )


def _check_input(position: int, item: LogEntryInput) -> None:
    """Refused before sequencing, naming the input; the entry's own fields are
    checked when it is built (LogEntry), inside the batch that then rolls back."""
    try:
        check_host_writable(item.kind, item.actor, item.room)
    except MalformedEntry as exc:
        raise InvalidRequest(f"entries[{position}]: {exc.message}") from exc
