"""verify_tiled_log: whole logs at and around tile boundaries, and every way a
stored log can be wrong, each named."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import (
    MalformedNote,
    MalformedTile,
    MissingTile,
    RootMismatch,
    TileMismatch,
    UnknownKey,
)
from anima_verify.tlog.merkle import EMPTY_ROOT, consistency_proof, inclusion_proof
from anima_verify.tlog.note import Verifier, parse_verifier_key
from anima_verify.tlog.reader import DirectorySource, HttpSource, TileHashReader
from anima_verify.tlog.verify import LogReport, verify_tiled_log
from tests.tlog.http_server import serve_directory
from tests.tlog.tiled_log import (
    TiledLog,
    bundle_bytes,
    hash_tile_path,
    sample_entry,
    write_tiled_log,
)
from tests.vectors import require_vectors


def _verifiers(log: TiledLog) -> list[Verifier]:
    return [parse_verifier_key(log.vkey)]


def verify(log: TiledLog) -> LogReport:
    return verify_tiled_log(
        DirectorySource(log.root), _verifiers(log), witnesses=WitnessPolicy.insecure_unwitnessed()
    )


def _expected_tiles(size: int) -> int:
    count, level = 0, 0
    while nodes := size >> (8 * level):
        count += -(-nodes // 256)
        level += 1
    return count


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537])
def test_verifies_logs_around_tile_boundaries(tmp_path: Path, size: int) -> None:
    log = write_tiled_log(tmp_path, size)
    report = verify(log)
    assert report.origin == log.origin
    assert report.size == report.entries_checked == size
    assert report.root_hash == log.root_hash()
    assert report.tiles_checked == _expected_tiles(size)
    assert report.bundles_checked == -(-size // 256)
    assert report.checkpoint_note == log.path("checkpoint").read_text()


def test_an_empty_log_is_its_checkpoint_with_the_empty_root(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 0)
    report = verify(log)
    assert (report.size, report.root_hash, report.tiles_checked) == (0, EMPTY_ROOT, 0)
    log.write_checkpoint(0, root=b"\x01" * 32)
    with pytest.raises(RootMismatch, match="at size 0, but the checkpoint says 0101"):
        verify(log)


def test_entries_of_every_length_including_empty_and_maximal(tmp_path: Path) -> None:
    lengths = [0, 1, 65535, 2, 300]
    log = write_tiled_log(tmp_path, 5, entry=lambda i: bytes([i]) * lengths[i])
    assert verify(log).root_hash == log.root_hash()


def test_roots_match_the_rfc6962_reference_tree_vectors(tmp_path: Path) -> None:
    """The 8-leaf reference tree of RFC 6962's test suite, against the roots and
    proofs transparency-dev/merkle publishes for it (read from the shared vectors)."""
    merkle = require_vectors("merkle", "consistency/2/happy-path.json")
    leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    leaves.append("606162636465666768696a6b6c6d6e6f")
    log = write_tiled_log(tmp_path, 8, entry=lambda i: bytes.fromhex(leaves[i]), partial_sizes=[6])
    consistency = json.loads((merkle / "consistency/2/happy-path.json").read_text())
    assert (consistency["size1"], consistency["size2"]) == (6, 8)
    assert verify(log).root_hash == base64.b64decode(consistency["root2"])
    log.write_checkpoint(6)
    assert verify(log).root_hash == base64.b64decode(consistency["root1"])
    reader = TileHashReader(DirectorySource(tmp_path), 8)
    assert consistency_proof(reader, 6, 8) == [base64.b64decode(p) for p in consistency["proof"]]
    inclusion = json.loads((merkle / "inclusion/2/happy-path.json").read_text())
    index, size = inclusion["leafIdx"], inclusion["treeSize"]
    assert inclusion_proof(reader, index, size) == [base64.b64decode(p) for p in inclusion["proof"]]


def test_verifies_an_older_checkpoint_from_full_tiles_once_partials_are_gone(
    tmp_path: Path,
) -> None:
    log = write_tiled_log(tmp_path, 65536, keep_partials=False)
    log.write_checkpoint(65536 - 100)
    report = verify(log)
    assert report.size == 65436 and report.root_hash == log.root_hash(65436)
    assert report.tiles_checked == 256 + 1  # 255 full + 1 partial at level 0; 1 at level 1


def test_verifies_over_http_and_reports_progress(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 70000)
    progress: list[tuple[int, int]] = []
    with serve_directory(tmp_path) as url, HttpSource(url) as source:
        report = verify_tiled_log(
            source,
            _verifiers(log),
            on_progress=lambda n, size: progress.append((n, size)),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
    assert report == verify(log)
    assert progress[0] == (256, 70000) and progress[-1] == (70000, 70000)
    assert [n for n, _ in progress] == sorted({n for n, _ in progress})


# ---------------------------------------------------------------- bad logs


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> TiledLog:
    """65536 + 300 entries: two tile levels, full and partial tiles on both."""
    return write_tiled_log(tmp_path_factory.mktemp("pristine"), 65536 + 300)


@pytest.fixture
def log(pristine: TiledLog, tmp_path: Path) -> TiledLog:
    root = tmp_path / "log"
    shutil.copytree(pristine.root, root)
    return TiledLog(
        root=root,
        origin=pristine.origin,
        key=pristine.key,
        size=pristine.size,
        levels=pristine.levels,
    )


Change = Callable[[list[bytes]], list[bytes]]


def _rewrite_bundle(log: TiledLog, path: str, change: Change) -> None:
    """Replace a bundle's entries with change(entries)."""
    entries = [sample_entry(i) for i in _bundle_range(path, log.size)]
    log.path(path).write_bytes(bundle_bytes(change(entries)))


def _bundle_range(path: str, size: int) -> range:
    index = int(path.split("/")[2].split(".")[0])
    return range(index * 256, min(size, index * 256 + 256))


def test_a_tampered_entry_is_named_by_its_index(log: TiledLog) -> None:
    def tamper(entries: list[bytes]) -> list[bytes]:
        entries[5] = entries[5][:-1] + b"!"
        return entries

    _rewrite_bundle(log, "tile/entries/003", tamper)
    with pytest.raises(
        TileMismatch, match=r"tile/0/003 holds .* at position 5, but entry 773"
    ) as e:
        verify(log)
    assert (e.value.path, e.value.index) == ("tile/0/003", 5)


def test_a_tampered_entry_in_the_partial_bundle(log: TiledLog) -> None:
    def tamper(entries: list[bytes]) -> list[bytes]:
        entries[-1] = b"forged"
        return entries

    _rewrite_bundle(log, "tile/entries/257.p/44", tamper)
    with pytest.raises(TileMismatch, match=r"tile/0/257\.p/44 .* position 43, but entry 65835"):
        verify(log)


def test_reordered_entries(log: TiledLog) -> None:
    def swap(entries: list[bytes]) -> list[bytes]:
        entries[3], entries[4] = entries[4], entries[3]
        return entries

    _rewrite_bundle(log, "tile/entries/000", swap)
    with pytest.raises(TileMismatch, match="position 3, but entry 3 hashes to"):
        verify(log)


def test_a_duplicated_entry(log: TiledLog) -> None:
    def duplicate(entries: list[bytes]) -> list[bytes]:
        entries[200] = entries[199]
        return entries

    _rewrite_bundle(log, "tile/entries/100", duplicate)
    with pytest.raises(TileMismatch, match=r"tile/0/100 .* position 200, but entry 25800 "):
        verify(log)


@pytest.mark.parametrize(
    ("path", "change", "reason"),
    [
        ("tile/entries/001", lambda e: e[:-1], "holds 255 entries, want 256"),
        ("tile/entries/001", lambda e: [*e, b"extra"], "holds 257 entries, want 256"),
        ("tile/entries/257.p/44", lambda e: e[1:], "holds 43 entries, want 44"),
    ],
    ids=["missing-entry", "extra-entry", "missing-entry-partial"],
)
def test_missing_and_extra_entries_name_the_bundle(
    log: TiledLog, path: str, change: Change, reason: str
) -> None:
    _rewrite_bundle(log, path, change)
    with pytest.raises(MalformedTile, match=rf"entry bundle {path}: entry bundle {reason}"):
        verify(log)


@pytest.mark.parametrize("junk", [b"\x00", b"\x00\x05ab"], ids=["inside-length", "inside-entry"])
def test_trailing_bytes_after_a_bundle(log: TiledLog, junk: bytes) -> None:
    bundle = log.path("tile/entries/002")
    bundle.write_bytes(bundle.read_bytes() + junk)
    with pytest.raises(MalformedTile, match=r"tile/entries/002: entry bundle ends inside"):
        verify(log)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tile/entries/004", "entry bundle tile/entries/004 is missing"),
        ("tile/entries/257.p/44", r"tile/entries/257\.p/44 is missing \(and so is"),
        ("tile/0/004", "hash tile tile/0/004 is missing"),
        ("tile/1/000", "hash tile tile/1/000 is missing"),
        ("tile/1/001.p/1", r"hash tile tile/1/001\.p/1 is missing"),
        ("tile/2/000.p/1", r"hash tile tile/2/000\.p/1 is missing"),
        ("checkpoint", "the log has no checkpoint"),
    ],
)
def test_missing_tiles_bundles_and_checkpoint_are_named(
    log: TiledLog, path: str, message: str
) -> None:
    log.path(path).unlink()
    with pytest.raises(MissingTile, match=message):
        verify(log)


@pytest.mark.parametrize(
    ("path", "edit", "length"),
    [
        (hash_tile_path(0, 7), lambda d: d[:-1], 8191),
        (hash_tile_path(0, 7), lambda d: d + b"\x00" * 32, 8224),
        (hash_tile_path(1, 1, 1), lambda d: d + b"\x00", 33),
        (hash_tile_path(0, 257, 44), lambda d: d[:-32], 44 * 32 - 32),
    ],
    ids=["truncated", "padded", "padded-partial", "truncated-partial"],
)
def test_tiles_of_the_wrong_length(
    log: TiledLog, path: str, edit: Callable[[bytes], bytes], length: int
) -> None:
    log.path(path).write_bytes(edit(log.path(path).read_bytes()))
    with pytest.raises(MalformedTile, match=rf"hash tile {path} is {length} bytes"):
        verify(log)


@pytest.mark.parametrize(
    ("path", "at", "what"),
    [
        ("tile/0/009", 7, "entry 2311 hashes to"),
        ("tile/1/000", 200, r"entries \[51200, 51456\) give"),
        ("tile/1/001.p/1", 0, r"entries \[65536, 65792\) give"),
        ("tile/2/000.p/1", 0, r"entries \[0, 65536\) give"),
    ],
)
def test_a_tampered_hash_tile_names_the_position(
    log: TiledLog, path: str, at: int, what: str
) -> None:
    tile = bytearray(log.path(path).read_bytes())
    tile[at * 32 + 9] ^= 1
    log.path(path).write_bytes(bytes(tile))
    with pytest.raises(TileMismatch, match=rf"{path} holds \w+ at position {at}, but {what}"):
        verify(log)


def test_a_consistently_rewritten_log_fails_on_the_signed_root(
    pristine: TiledLog, tmp_path: Path
) -> None:
    """Every tile recomputed over a forged entry: only the checkpoint can tell."""
    forged = write_tiled_log(
        tmp_path, pristine.size, entry=lambda i: b"forged" if i == 1000 else sample_entry(i)
    )
    shutil.copy(pristine.path("checkpoint"), forged.path("checkpoint"))
    with pytest.raises(RootMismatch, match="but the checkpoint says") as caught:
        verify_tiled_log(
            DirectorySource(tmp_path),
            _verifiers(pristine),
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
    assert not isinstance(caught.value, TileMismatch)


def test_a_checkpoint_signed_by_another_key(log: TiledLog) -> None:
    log.write_checkpoint(key=Ed25519PrivateKey.generate())
    with pytest.raises(UnknownKey, match="not signed by any of the given keys"):
        verify(log)


def test_a_signed_checkpoint_with_a_wrong_root(log: TiledLog) -> None:
    log.write_checkpoint(root=log.root_hash(log.size - 1))
    with pytest.raises(RootMismatch, match="but the checkpoint says"):
        verify(log)


def test_a_checkpoint_larger_than_the_log(log: TiledLog) -> None:
    log.write_checkpoint(log.size + 1, root=b"\x00" * 32)
    with pytest.raises(MissingTile, match=r"tile/entries/257\.p/45 is missing"):
        verify(log)


def test_a_malformed_checkpoint(log: TiledLog) -> None:
    log.path("checkpoint").write_bytes(b"not a note")
    with pytest.raises(MalformedNote):
        verify(log)
