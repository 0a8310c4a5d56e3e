"""monitor_log: the latest verified checkpoint per log, kept in a state file; a log
served rolled back, forked or equivocating is caught and never replaces it."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import (
    Equivocation,
    InconsistentLog,
    Rollback,
    RootMismatch,
    UnknownKey,
)
from anima_verify.tlog.monitor import (
    MonitorOutcome,
    MonitorReport,
    MonitorState,
    MonitorStateError,
    check_log,
    monitor_log,
)
from anima_verify.tlog.note import Verifier, parse_verifier_key, sign_note
from anima_verify.tlog.reader import DirectorySource
from tests.tlog.tiled_log import TiledLog, sample_entry, write_tiled_log


@pytest.fixture
def log(tmp_path: Path) -> TiledLog:
    return write_tiled_log(tmp_path / "log", 1000, partial_sizes=[300])


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "monitor" / "state.json"


def _keys(log: TiledLog) -> list[Verifier]:
    return [parse_verifier_key(log.vkey)]


def _run(log: TiledLog, state: Path, root: Path | None = None) -> MonitorReport:
    return monitor_log(
        DirectorySource(root or log.root),
        _keys(log),
        state,
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )


def _stored(state: Path) -> dict[str, str]:
    logs = json.loads(state.read_text())["logs"]
    return {origin: entry["checkpoint"] for origin, entry in logs.items()}


def test_the_first_run_stores_the_checkpoint_owner_only(log: TiledLog, state: Path) -> None:
    state.parent.mkdir()
    log.write_checkpoint(300)
    report = _run(log, state)
    assert (report.outcome, report.previous, report.current.size) == (
        MonitorOutcome.FIRST,
        None,
        300,
    )
    assert _stored(state) == {log.origin: log.checkpoint(300).decode()}
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert json.loads(state.read_text())["version"] == 1
    assert [p.name for p in state.parent.iterdir()] == ["state.json"]  # no temp file left


def test_a_grown_log_is_proven_consistent_and_stored(log: TiledLog, state: Path) -> None:
    state.parent.mkdir()
    log.write_checkpoint(300)
    _run(log, state)
    log.write_checkpoint(1000)
    report = _run(log, state)
    assert report.outcome is MonitorOutcome.EXTENDED
    assert report.previous is not None and report.previous.size == 300
    assert report.current.size == 1000 and report.proof
    assert _stored(state) == {log.origin: log.checkpoint(1000).decode()}
    before = state.stat().st_mtime_ns
    assert _run(log, state).outcome is MonitorOutcome.UNCHANGED
    assert state.stat().st_mtime_ns == before  # nothing to write


def test_a_log_served_rolled_back_is_caught_and_not_stored(log: TiledLog, state: Path) -> None:
    """The host serves an older checkpoint after the monitor stored a newer one."""
    state.parent.mkdir()
    _run(log, state)  # size 1000
    kept = state.read_bytes()
    log.write_checkpoint(300)
    with pytest.raises(Rollback, match=r"seen at size 1000 .* has size 300") as caught:
        _run(log, state)
    assert caught.value.old_note == log.checkpoint(1000)
    assert caught.value.new_note == log.checkpoint(300)
    assert state.read_bytes() == kept
    with pytest.raises(Rollback):  # and on every later run, until the log is back
        _run(log, state)


def test_a_fork_is_caught_and_not_stored(log: TiledLog, state: Path, tmp_path: Path) -> None:
    """Same key and origin, another history: entry 50 rewritten."""
    state.parent.mkdir()
    log.write_checkpoint(300)
    _run(log, state)
    kept = state.read_bytes()
    fork = write_tiled_log(
        tmp_path / "fork",
        1000,
        entry=lambda i: b"rewritten" if i == 50 else sample_entry(i),
        key=log.key,
        origin=log.origin,
    )
    with pytest.raises(InconsistentLog, match="fork"):
        _run(log, state, fork.root)
    assert state.read_bytes() == kept


def test_equivocation_is_caught_with_both_notes(log: TiledLog, state: Path) -> None:
    state.parent.mkdir()
    _run(log, state)
    kept = state.read_bytes()
    forged = log.checkpoint(1000, root=log.root_hash(999))
    (log.root / "checkpoint").write_bytes(forged)
    with pytest.raises(Equivocation) as caught:
        _run(log, state)
    assert (caught.value.first_note, caught.value.second_note) == (log.checkpoint(), forged)
    assert state.read_bytes() == kept


def test_a_checkpoint_by_another_key_is_refused_even_on_the_first_run(
    log: TiledLog, state: Path
) -> None:
    state.parent.mkdir()
    log.write_checkpoint(key=Ed25519PrivateKey.generate())
    with pytest.raises(UnknownKey):
        _run(log, state)
    assert not state.exists()


def test_a_first_checkpoint_of_size_zero_must_carry_the_empty_root(
    log: TiledLog, state: Path
) -> None:
    state.parent.mkdir()
    log.write_checkpoint(0, root=log.root_hash(1))
    with pytest.raises(RootMismatch, match="size 0"):
        _run(log, state)
    assert not state.exists()


def test_one_state_file_keeps_each_log_by_origin(
    log: TiledLog, state: Path, tmp_path: Path
) -> None:
    state.parent.mkdir()
    other = write_tiled_log(tmp_path / "other", 10, origin="example.com/other-log")
    _run(log, state)
    monitor_log(
        DirectorySource(other.root),
        [parse_verifier_key(other.vkey)],
        state,
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )
    assert _stored(state) == {
        log.origin: log.checkpoint().decode(),
        other.origin: other.checkpoint().decode(),
    }
    log.write_checkpoint(300)
    with pytest.raises(Rollback):
        _run(log, state)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe", "is not JSON"),
        (b"[]", '"version": 1'),
        (b'{"version": 2, "logs": {}}', '"version": 1'),
        (b'{"version": 1, "logs": []}', '"logs" is not an object'),
        (b'{"version": 1, "logs": {"o": {"checkpoint": 5}}}', "has no checkpoint string"),
        (b'{"version": 1, "logs": {"o": "note"}}', "has no checkpoint string"),
    ],
)
def test_a_corrupt_state_file_is_a_clear_error_and_is_left_as_it_is(
    log: TiledLog, state: Path, content: bytes, reason: str
) -> None:
    state.parent.mkdir()
    state.write_bytes(content)
    with pytest.raises(MonitorStateError, match=reason):
        _run(log, state)
    assert state.read_bytes() == content


def test_a_stored_checkpoint_the_keys_do_not_verify_is_a_state_error(
    log: TiledLog, state: Path
) -> None:
    """An edited state file, or another key for the same origin: never overwritten."""
    state.parent.mkdir()
    MonitorState({log.origin: log.checkpoint(300, key=Ed25519PrivateKey.generate())}).save(state)
    kept = state.read_bytes()
    with pytest.raises(MonitorStateError, match="does not verify with the keys given"):
        _run(log, state)
    assert state.read_bytes() == kept


def test_a_stored_checkpoint_of_another_origin_is_a_state_error(log: TiledLog, state: Path) -> None:
    state.parent.mkdir()
    text = f"example.com/elsewhere\n300\n{base64.b64encode(log.root_hash(300)).decode()}\n"
    elsewhere = sign_note(text, name=log.origin, private_key=log.key).to_bytes()
    MonitorState({log.origin: elsewhere}).save(state)
    with pytest.raises(MonitorStateError, match=r"holds a checkpoint of 'example\.com/elsewhere'"):
        _run(log, state)


def test_a_state_directory_that_cannot_be_written_is_a_state_error(
    log: TiledLog, tmp_path: Path
) -> None:
    with pytest.raises(MonitorStateError, match="cannot write the state file"):
        _run(log, tmp_path / "absent" / "state.json")


def test_check_log_alone_needs_no_state_file(log: TiledLog) -> None:
    source = DirectorySource(log.root)
    report, note = check_log(
        source, _keys(log), log.checkpoint(300), witnesses=WitnessPolicy.insecure_unwitnessed()
    )
    assert (report.outcome, report.current.size, note) == (
        MonitorOutcome.EXTENDED,
        1000,
        log.checkpoint(),
    )
