"""Monitor a log: remember the latest checkpoint verified, and alarm when the log no
longer extends it.

A one-shot audit compares two checkpoints someone kept; a monitor keeps them itself.
Each run fetches the log's current checkpoint, verifies its signature, and checks that
it extends the one stored for that log's origin (audit_checkpoints: a consistency
proof built from the log's own tiles). Only a checkpoint that passes replaces the
stored one, so a host that later serves an older or truncated log (Rollback), another
history (InconsistentLog, a fork) or a second root for a size already seen
(Equivocation) is caught on the next run, and keeps being caught: the evidence stays
in the state file.

The state file is JSON, written atomically (temporary file, fsync, rename) and
owner-only (0600):

    {"version": 1, "logs": {"<origin>": {"checkpoint": "<the signed note, as served>"}}}

Its checkpoints are verified again on every run, with the keys given: a state file
that cannot be read, is not this shape, or holds a checkpoint those keys do not
verify is a MonitorStateError, and is left as it is. One monitor per state file at a
time: concurrent runs may each store what they saw last.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from anima_verify.errors import AnimaError, ErrorKind
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import LogVerificationError, MissingTile, RootMismatch
from anima_verify.tlog.merkle import EMPTY_ROOT
from anima_verify.tlog.note import Verifier
from anima_verify.tlog.reader import TileSource
from anima_verify.tlog.tiles import CHECKPOINT_PATH
from anima_verify.tlog.verify import audit_checkpoints

STATE_VERSION = 1
STATE_FILE_MODE = 0o600
MAX_STATE_BYTES = 64 << 20


class MonitorStateError(AnimaError):
    """The monitor's own state file is unusable (unreadable, not the expected JSON, or
    a stored checkpoint the given keys do not verify). It is never overwritten."""

    kind = ErrorKind.INVALID_ARGUMENT
    reason = "MONITOR_STATE_UNUSABLE"


class MonitorOutcome(StrEnum):
    FIRST = "first"  # nothing stored for this origin yet: the checkpoint is stored
    UNCHANGED = "unchanged"  # the same checkpoint as stored
    EXTENDED = "extended"  # a larger checkpoint, consistent with the stored one: stored


@dataclass(frozen=True, slots=True)
class MonitorReport:
    """A run that found nothing wrong; `previous` is None on the first run."""

    origin: str
    outcome: MonitorOutcome
    previous: Checkpoint | None
    current: Checkpoint
    proof: tuple[bytes, ...]  # the consistency proof checked (empty: none needed)


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The latest verified checkpoint (signed note) per log origin."""

    checkpoints: dict[str, bytes]

    @classmethod
    def load(cls, path: Path) -> MonitorState:
        """The state in `path`; empty when the file does not exist yet."""
        try:
            with path.open("rb") as file:
                data = file.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return cls(checkpoints={})
        except OSError as exc:
            raise MonitorStateError(f"cannot read the state file {path}: {exc.strerror}") from exc
        if len(data) > MAX_STATE_BYTES:
            raise MonitorStateError(f"the state file {path} is larger than {MAX_STATE_BYTES}")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise MonitorStateError(f"the state file {path} is not JSON: {exc}") from exc
        return cls(checkpoints=_parse_state(document, path))

    def save(self, path: Path) -> None:
        """Write the state to `path` atomically, owner-only."""
        document = {
            "version": STATE_VERSION,
            "logs": {
                origin: {"checkpoint": note.decode()}
                for origin, note in sorted(self.checkpoints.items())
            },
        }
        try:
            _write_atomically(path, (json.dumps(document, indent=2) + "\n").encode())
        except OSError as exc:
            raise MonitorStateError(
                f"cannot write the state file {path}: {exc.strerror or exc}"
            ) from exc


def _parse_state(document: object, path: Path) -> dict[str, bytes]:
    def bad(what: str) -> MonitorStateError:
        return MonitorStateError(f"the state file {path} is not a monitor's state: {what}")

    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        raise bad(f'want an object with "version": {STATE_VERSION}')
    logs = document.get("logs")
    if not isinstance(logs, dict):
        raise bad('"logs" is not an object')
    checkpoints: dict[str, bytes] = {}
    for origin, entry in logs.items():
        note = entry.get("checkpoint") if isinstance(entry, dict) else None
        if not isinstance(note, str):
            raise bad(f"the log {origin!r} has no checkpoint string")
        try:
            checkpoints[origin] = note.encode()
        except UnicodeEncodeError as exc:
            raise bad(f"the checkpoint of {origin!r} is not valid Unicode") from exc
    return checkpoints


def _write_atomically(path: Path, data: bytes) -> None:
    directory = path.parent
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, STATE_FILE_MODE)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def check_log(
    source: TileSource,
    verifiers: Sequence[Verifier],
    last_seen: bytes | None,
    *,
    witnesses: WitnessPolicy,
) -> tuple[MonitorReport, bytes]:
    """Fetch the log's checkpoint from `source` and check it against `last_seen` (the
    signed note stored for its origin, or None); the report and the note fetched.

    Raises Rollback, Equivocation or InconsistentLog (a fork) when the log no longer
    extends `last_seen`, the note and checkpoint errors for what does not verify,
    MissingTile when there is no checkpoint (or the tiles for a proof are missing), and
    LogSourceError when the source cannot be read. Reads only through `source`.
    """
    note = source.read(CHECKPOINT_PATH)
    if note is None:
        raise MissingTile(f"the log has no checkpoint (nothing at {CHECKPOINT_PATH!r})")
    current = open_checkpoint(note, verifiers, witnesses=witnesses).checkpoint
    if last_seen is None:
        if current.size == 0 and current.root_hash != EMPTY_ROOT:
            raise RootMismatch(
                f"checkpoint of size 0 has root {current.root_hash.hex()}, "
                f"but the empty tree's root is {EMPTY_ROOT.hex()}"
            )
        return MonitorReport(current.origin, MonitorOutcome.FIRST, None, current, ()), note
    # The stored checkpoint passed the policy it was stored under; the new one must
    # pass this one.
    audit = audit_checkpoints(
        last_seen, note, verifiers, source=source, witnesses=WitnessPolicy.insecure_unwitnessed()
    )
    outcome = (
        MonitorOutcome.UNCHANGED if audit.old.size == audit.new.size else MonitorOutcome.EXTENDED
    )
    report = MonitorReport(current.origin, outcome, audit.old, current, audit.proof)
    return report, note


def monitor_log(
    source: TileSource,
    verifiers: Sequence[Verifier],
    state_path: Path,
    *,
    witnesses: WitnessPolicy,
) -> MonitorReport:
    """One monitor run: check the log against the checkpoint `state_path` holds for its
    origin, and store the new checkpoint only when it extends that one (see check_log
    for what is raised; MonitorStateError when the state file is unusable). Nothing is
    written unless the run succeeds and the checkpoint changed."""
    state = MonitorState.load(state_path)
    note = source.read(CHECKPOINT_PATH)
    if note is None:
        raise MissingTile(f"the log has no checkpoint (nothing at {CHECKPOINT_PATH!r})")
    origin = open_checkpoint(note, verifiers).checkpoint.origin
    stored = state.checkpoints.get(origin)
    if stored is not None:
        _check_stored(stored, origin, verifiers, state_path)
    report, fetched = check_log(_Pinned(source, note), verifiers, stored, witnesses=witnesses)
    if report.outcome is not MonitorOutcome.UNCHANGED:
        state.checkpoints[origin] = fetched
        state.save(state_path)
    return report


def _check_stored(
    stored: bytes, origin: str, verifiers: Sequence[Verifier], state_path: Path
) -> None:
    """The stored checkpoint must still verify: else the state (or the keys) changed."""
    try:
        checkpoint = open_checkpoint(stored, verifiers).checkpoint
    except LogVerificationError as exc:
        raise MonitorStateError(
            f"the checkpoint the state file {state_path} holds for {origin!r} does not "
            f"verify with the keys given: {exc.message}"
        ) from exc
    if checkpoint.origin != origin:
        raise MonitorStateError(
            f"the state file {state_path} holds a checkpoint of {checkpoint.origin!r} "
            f"under {origin!r}"
        )


class _Pinned(TileSource):
    """The source, with its checkpoint fixed to the note already read: a log that
    changes between two reads must not have one note verified and another stored."""

    def __init__(self, source: TileSource, note: bytes) -> None:
        self._source = source
        self._note = note

    def read(self, path: str) -> bytes | None:
        return self._note if path == CHECKPOINT_PATH else self._source.read(path)
