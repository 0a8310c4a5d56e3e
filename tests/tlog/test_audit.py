"""audit_checkpoints: a newer checkpoint that extends an older one, rollbacks and
equivocation with their evidence, forks, other logs and keys, and audits that need
the log's tiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import (
    Equivocation,
    InconsistentLog,
    InvalidSignature,
    LogVerificationError,
    MissingTile,
    Rollback,
    RootMismatch,
    UnknownKey,
)
from anima_verify.tlog.merkle import EMPTY_ROOT, verify_consistency
from anima_verify.tlog.note import Verifier, parse_verifier_key, verifier_key
from anima_verify.tlog.reader import DirectorySource
from anima_verify.tlog.verify import LogSourceNeeded, audit_checkpoints
from tests.tlog.tiled_log import TiledLog, sample_entry, write_tiled_log

SIZE = 65536 + 300


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> TiledLog:
    return write_tiled_log(tmp_path_factory.mktemp("log"), SIZE)


def _keys(log: TiledLog) -> list[Verifier]:
    return [parse_verifier_key(log.vkey)]


@pytest.mark.parametrize(
    ("old", "new"),
    [(0, SIZE), (1, SIZE), (256, 257), (255, 65537), (65536, SIZE), (1000, 1000), (SIZE - 1, SIZE)],
)
def test_checkpoints_of_one_growing_log_are_consistent(log: TiledLog, old: int, new: int) -> None:
    # The log is at SIZE now, so a checkpoint at `new` < SIZE reads full tiles where its partials
    # would be (they were never written): the audit works on a log that has moved on.
    report = audit_checkpoints(
        log.checkpoint(old),
        log.checkpoint(new),
        _keys(log),
        source=DirectorySource(log.root),
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )
    assert (report.old.size, report.new.size, report.origin) == (old, new, log.origin)
    assert report.old.root_hash == log.root_hash(old)
    assert (len(report.proof) == 0) == (old in (0, new))
    if old == 0:
        return  # the empty tree precedes every tree: there is no proof to check
    verify_consistency(
        size1=old,
        size2=new,
        root1=report.old.root_hash,
        root2=report.new.root_hash,
        proof=list(report.proof),
    )


def test_an_empty_checkpoint_is_consistent_with_any_later_one_without_tiles(
    log: TiledLog,
) -> None:
    """A monitor's first checkpoint is often size 0: auditing it against the next
    needs no proof (RFC 9162 has none from the empty tree) and no log source."""
    report = audit_checkpoints(
        log.checkpoint(0),
        log.checkpoint(SIZE),
        _keys(log),
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )
    assert (report.old.size, report.new.size, report.proof) == (0, SIZE, ())
    assert report.old.root_hash == EMPTY_ROOT


@pytest.mark.parametrize(("old", "new"), [(SIZE, 7), (8, 7), (SIZE, 0), (1, 0)])
def test_a_smaller_newer_checkpoint_is_a_rollback_with_both_notes(
    log: TiledLog, old: int, new: int
) -> None:
    """The bug: the audit put the two checkpoints in size order, so `audit LAST_SEEN
    SERVED` said "consistent" when the host served an older or truncated log."""
    seen, served = log.checkpoint(old), log.checkpoint(new)
    with pytest.raises(Rollback, match=f"seen at size {old} .* newer checkpoint has size {new}"):
        audit_checkpoints(
            seen,
            served,
            _keys(log),
            source=DirectorySource(log.root),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
    with pytest.raises(Rollback) as caught:
        audit_checkpoints(
            seen, served, _keys(log), witnesses=WitnessPolicy.insecure_unwitnessed()
        )  # no tiles needed to see it
    assert (caught.value.old_note, caught.value.new_note) == (seen, served)
    assert caught.value.reason == "LOG_ROLLBACK"
    assert isinstance(caught.value, LogVerificationError)
    assert not isinstance(caught.value, InconsistentLog)


def test_equal_checkpoints_need_no_log_source(log: TiledLog) -> None:
    note = log.checkpoint(500)
    report = audit_checkpoints(
        note, note, _keys(log), witnesses=WitnessPolicy.insecure_unwitnessed()
    )
    assert report.proof == () and report.old == report.new


def test_one_size_with_two_roots_is_equivocation_with_both_notes_as_evidence(
    log: TiledLog,
) -> None:
    honest = log.checkpoint(500)
    forged = log.checkpoint(500, root=log.root_hash(499))
    with pytest.raises(Equivocation, match="at size 500 with different roots") as caught:
        audit_checkpoints(
            honest, forged, _keys(log), witnesses=WitnessPolicy.insecure_unwitnessed()
        )
    assert caught.value.first_note == honest
    assert caught.value.second_note == forged


def test_a_fork_is_named_with_both_sizes(log: TiledLog, tmp_path: Path) -> None:
    """The same origin and key sign a second history that rewrote entry 50."""
    fork = write_tiled_log(
        tmp_path,
        1000,
        entry=lambda i: b"rewritten" if i == 50 else sample_entry(i),
        key=log.key,
        origin=log.origin,
    )
    with pytest.raises(
        InconsistentLog, match=r"fork: the log's tree of size 1000 .* size 300"
    ) as e:
        audit_checkpoints(
            log.checkpoint(300),
            fork.checkpoint(1000),
            _keys(log),
            source=DirectorySource(tmp_path),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
    assert not isinstance(e.value, Equivocation)


def test_a_log_source_that_is_not_the_signed_log(log: TiledLog, tmp_path: Path) -> None:
    other = write_tiled_log(tmp_path, 1000, entry=lambda i: b"other %d" % i)
    with pytest.raises(RootMismatch, match="log source does not hold the tree of the size-1000"):
        audit_checkpoints(
            log.checkpoint(300),
            log.checkpoint(1000),
            _keys(log),
            source=DirectorySource(other.root),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )


def test_a_log_source_too_short_for_the_newer_checkpoint(log: TiledLog, tmp_path: Path) -> None:
    short = write_tiled_log(tmp_path, 300, key=log.key, origin=log.origin)
    with pytest.raises(MissingTile, match=r"hash tile tile/1/000\.p/3 is missing"):
        audit_checkpoints(
            log.checkpoint(300),
            log.checkpoint(1000),
            _keys(log),
            source=DirectorySource(short.root),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )


def test_checkpoints_of_different_logs(log: TiledLog) -> None:
    other = log.checkpoint(10, origin="example.com/other-log")
    verifiers = [*_keys(log), parse_verifier_key(_vkey(log.key, "example.com/other-log"))]
    with pytest.raises(InconsistentLog, match=r"different logs: 'example\.com/test-log' and"):
        audit_checkpoints(
            log.checkpoint(10), other, verifiers, witnesses=WitnessPolicy.insecure_unwitnessed()
        )


def test_a_checkpoint_by_another_key(log: TiledLog) -> None:
    stranger = log.checkpoint(10, key=Ed25519PrivateKey.generate())
    with pytest.raises(UnknownKey):
        audit_checkpoints(
            log.checkpoint(10), stranger, _keys(log), witnesses=WitnessPolicy.insecure_unwitnessed()
        )


def test_a_checkpoint_with_a_bad_signature(log: TiledLog) -> None:
    note = bytearray(log.checkpoint(10))
    note[0] ^= 0x20  # the origin's first letter changes case: the signature no longer covers it
    with pytest.raises((InvalidSignature, UnknownKey)):
        audit_checkpoints(
            log.checkpoint(10),
            bytes(note),
            _keys(log),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )


def test_different_sizes_without_a_log_source(log: TiledLog) -> None:
    with pytest.raises(LogSourceNeeded, match="sizes 10 and 20 need the log's tiles"):
        audit_checkpoints(
            log.checkpoint(10),
            log.checkpoint(20),
            _keys(log),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )


def test_a_size_zero_checkpoint_must_carry_the_empty_root(log: TiledLog) -> None:
    bad = log.checkpoint(0, root=log.root_hash(1))
    with pytest.raises(RootMismatch, match=f"size 0 has root .* tree's root is {EMPTY_ROOT.hex()}"):
        audit_checkpoints(
            bad,
            log.checkpoint(5),
            _keys(log),
            source=DirectorySource(log.root),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )


def _vkey(key: Ed25519PrivateKey, name: str) -> str:
    return verifier_key(name, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
