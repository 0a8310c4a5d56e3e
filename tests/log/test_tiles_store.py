"""TileStore: the C2SP layout written incrementally, checked by the independent verifier."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_runtime.log import durable
from anima_runtime.log.errors import CheckpointRejected, CorruptLog, LogLocked
from anima_runtime.log.source import StoreTileSource
from anima_runtime.log.tile_paths import parse_tile_path
from anima_runtime.log.tiles_store import TileStore
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from anima_verify.tlog.reader import (
    DirectorySource,
    TileHashReader,
    TileSource,
    read_entry_bundle,
)
from anima_verify.tlog.tiles import CHECKPOINT_PATH, entries_path, tile_path
from anima_verify.tlog.verify import audit_checkpoints, verify_tiled_log
from tests.log.conftest import NoteSigner, entries, entry


def open_store(directory: Path, notes: NoteSigner) -> TileStore:
    return TileStore.open(directory, verifier=notes.verifier)


def partial_files(directory: Path) -> list[str]:
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if ".p/" in str(p) and p.is_file()
    )


@pytest.mark.parametrize(
    "batches",
    [
        [1],
        [255],
        [256],
        [257],
        [255, 1, 1],
        [100, 156, 1],
        [1] * 40,
        [4096] * 16 + [1],  # 65537: the first full level-1 tile and a level-2 tile
        [65535, 1],
        [65536],
        [65535, 2],
    ],
    ids=lambda b: f"{len(b)}batches-{sum(b)}",
)
def test_round_trip_verifies_at_tile_boundaries(
    tmp_path: Path, notes: NoteSigner, batches: list[int]
) -> None:
    store = open_store(tmp_path, notes)
    size = 0
    for count in batches:
        batch = entries(size, size + count)
        published = store.append(batch, notes.extend(batch))
        size += count
        assert published.size == store.size == size
    report = verify_tiled_log(
        DirectorySource(tmp_path),
        [notes.verifier],
        read_ahead=0,
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )
    assert report.size == size
    # Partial tiles remain only beside tiles that are not full yet.
    for path in partial_files(tmp_path):
        assert not (tmp_path / path.split(".p/")[0]).exists(), path
    store.close()


def test_reopen_resumes_and_yields_the_same_files(tmp_path: Path, notes: NoteSigner) -> None:
    """Appending with restarts between batches writes exactly what one process would."""
    other = NoteSigner(notes.origin, notes.key, notes.frontier.copy())
    one = open_store(tmp_path / "one", notes)
    for start in range(0, 70_000, 7_000):
        batch = entries(start, start + 7_000)
        store = open_store(tmp_path / "restarted", other)
        store.append(batch, other.extend(batch))
        store.close()
        one.append(batch, notes.extend(batch))
    one.close()
    files_one = {
        p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file()
    }
    files_two = {
        p.relative_to(tmp_path / "restarted")
        for p in (tmp_path / "restarted").rglob("*")
        if p.is_file()
    }
    assert files_one == files_two
    for relative in files_one:
        if relative.parts[0] == "tile":
            assert (tmp_path / "one" / relative).read_bytes() == (
                tmp_path / "restarted" / relative
            ).read_bytes()


def test_root_mismatch_is_refused_and_nothing_is_published(
    tmp_path: Path, notes: NoteSigner
) -> None:
    store = open_store(tmp_path, notes)
    store.append(entries(0, 10), notes.extend(entries(0, 10)))
    before = (tmp_path / "checkpoint").read_bytes()
    signed_for = entries(10, 20)
    tampered = [*signed_for[:5], b"not what was signed", *signed_for[6:]]
    with pytest.raises(CheckpointRejected, match=r"root .* but the host's tiles give .*refusing"):
        store.append(tampered, notes.extend(signed_for))
    assert store.size == 10
    assert (tmp_path / "checkpoint").read_bytes() == before
    # The store is unchanged: the right entries still go in.
    store.append(signed_for, notes.note(20, notes.frontier.root()))
    assert (
        verify_tiled_log(
            DirectorySource(tmp_path),
            [notes.verifier],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        ).size
        == 20
    )


def test_checkpoint_for_the_wrong_size_origin_or_key_is_refused(
    tmp_path: Path, notes: NoteSigner
) -> None:
    store = open_store(tmp_path, notes)
    batch = entries(0, 5)
    good = notes.extend(batch)
    with pytest.raises(CheckpointRejected, match="size 5, but the host has 0 entries plus 4"):
        store.append(batch[:4], good)
    with pytest.raises(CheckpointRejected, match="origin 'elsewhere'"):
        store.append(batch, notes.note(5, notes.frontier.root(), origin="elsewhere"))
    stranger = NoteSigner(notes.origin, Ed25519PrivateKey.generate(), notes.frontier.copy())
    with pytest.raises(CheckpointRejected, match="does not verify"):
        store.append(batch, stranger.note(5, notes.frontier.root()))
    assert store.size == 0 and not (tmp_path / "checkpoint").exists()
    store.append(batch, good)
    with pytest.raises(CheckpointRejected, match="smaller than the 5 entries"):
        store.append([], notes.note(4, notes.frontier.root()))


def test_same_checkpoint_again_is_a_no_op(tmp_path: Path, notes: NoteSigner) -> None:
    store = open_store(tmp_path, notes)
    note = notes.extend(entries(0, 3))
    first = store.append(entries(0, 3), note)
    assert store.append([], note) is first


def test_one_writer_per_directory(tmp_path: Path, notes: NoteSigner) -> None:
    store = open_store(tmp_path, notes)
    with pytest.raises(LogLocked):
        open_store(tmp_path, notes)
    store.close()
    open_store(tmp_path, notes).close()


def test_a_refused_second_open_leaves_the_writers_staged_files_alone(
    tmp_path: Path, notes: NoteSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: open emptied `.tmp` before taking the lock, so a second opener
    deleted the live writer's staged tiles (its rename then failed) before LogLocked."""
    store = open_store(tmp_path, notes)
    refused: list[Path] = []

    def step(name: str, path: Path) -> None:
        if name == "rename" and not refused:  # staged and fsynced, not yet renamed
            with pytest.raises(LogLocked):
                open_store(tmp_path, notes)
            refused.append(path)

    monkeypatch.setattr(durable, "_step", step)
    store.append(entries(0, 3), notes.extend(entries(0, 3)))
    monkeypatch.undo()
    assert refused
    store.append(entries(3, 5), notes.extend(entries(3, 5)))
    assert (
        verify_tiled_log(
            DirectorySource(tmp_path),
            [notes.verifier],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        ).size
        == 5
    )
    store.close()


class AtCheckpoint(TileSource):
    """A tile directory read as a client holding an older checkpoint reads it."""

    def __init__(self, inner: TileSource, note: bytes) -> None:
        self._inner = inner
        self._note = note

    def read(self, path: str) -> bytes | None:
        return self._note if path == CHECKPOINT_PATH else self._inner.read(path)


def test_partial_tiles_stay_until_the_full_tile_exists(tmp_path: Path, notes: NoteSigner) -> None:
    """Regression: each checkpoint's partial tiles were deleted at the next one, so
    the tiles directory failed audit_checkpoints(size 3, size 5) with MissingTile
    tile/0/000.p/5 (C2SP tlog-tiles: partials may go only once the full tile exists)."""
    store = open_store(tmp_path, notes)
    signed: dict[int, bytes] = {}
    size = 0
    for new in (3, 5, 8):
        signed[new] = notes.extend(entries(size, new))
        store.append(entries(size, new), signed[new])
        size = new
    directory = DirectorySource(tmp_path)
    report = audit_checkpoints(
        signed[3],
        signed[5],
        [notes.verifier],
        source=directory,
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )
    assert (report.old.size, report.new.size) == (3, 5)
    audit_checkpoints(
        signed[5],
        signed[8],
        [notes.verifier],
        source=directory,
        witnesses=WitnessPolicy.insecure_unwitnessed(),
    )
    for old in (3, 5):
        assert (
            verify_tiled_log(
                AtCheckpoint(directory, signed[old]),
                [notes.verifier],
                witnesses=WitnessPolicy.insecure_unwitnessed(),
            ).size
            == old
        )
    widths = (3, 5, 8)
    expected = sorted(
        [*(tile_path(0, 0, w) for w in widths), *(entries_path(0, w) for w in widths)]
    )
    assert partial_files(tmp_path) == expected
    store.close()
    store = open_store(tmp_path, notes)  # reopening keeps them too
    assert partial_files(tmp_path) == expected
    # Once the full tile and bundle are durable, their partials go.
    signed[256] = notes.extend(entries(8, 256))
    store.append(entries(8, 256), signed[256])
    assert partial_files(tmp_path) == [tile_path(1, 0, 1)]
    for old in (3, 5, 8):  # served from the full tile
        assert (
            verify_tiled_log(
                AtCheckpoint(directory, signed[old]),
                [notes.verifier],
                witnesses=WitnessPolicy.insecure_unwitnessed(),
            ).size
            == old
        )
        audit_checkpoints(
            signed[old],
            signed[256],
            [notes.verifier],
            source=directory,
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
    store.close()


def test_open_refuses_a_checkpoint_pointing_at_missing_tiles(
    tmp_path: Path, notes: NoteSigner
) -> None:
    store = open_store(tmp_path, notes)
    store.append(entries(0, 300), notes.extend(entries(0, 300)))
    store.close()
    (tmp_path / tile_path(0, 1, 44)).unlink()
    with pytest.raises(CorruptLog, match=r"needs tile/0/001.p/44, which is missing"):
        open_store(tmp_path, notes)


def test_open_refuses_a_checkpoint_that_does_not_verify(tmp_path: Path, notes: NoteSigner) -> None:
    store = open_store(tmp_path, notes)
    store.append(entries(0, 3), notes.extend(entries(0, 3)))
    store.close()
    stranger = NoteSigner(notes.origin, Ed25519PrivateKey.generate(), notes.frontier.copy())
    with pytest.raises(CorruptLog, match="does not verify"):
        open_store(tmp_path, stranger)


def test_open_refuses_a_checkpoint_with_non_ascii_base64_as_corrupt(
    tmp_path: Path, notes: NoteSigner
) -> None:
    """Regression: base64 raised a bare ValueError, which no caller expects of a
    corrupt log (the runtime's start-up skips a CorruptLog, not a ValueError)."""
    store = open_store(tmp_path, notes)
    store.append(entries(0, 3), notes.extend(entries(0, 3)))
    store.close()
    path = tmp_path / "checkpoint"
    text = path.read_text()
    at = text.rindex(" ") + 1  # the signature's base64
    path.write_text(text[:at] + "\u00e9" + text[at + 1 :])
    with pytest.raises(CorruptLog, match="does not verify: signature line 1 is not valid base64"):
        open_store(tmp_path, notes)


def test_open_refuses_tiles_that_contradict_the_checkpoint(
    tmp_path: Path, notes: NoteSigner
) -> None:
    store = open_store(tmp_path, notes)
    store.append(entries(0, 3), notes.extend(entries(0, 3)))
    store.close()
    path = tmp_path / tile_path(0, 0, 3)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptLog, match="the tiles give root"):
        open_store(tmp_path, notes)


def test_debris_beyond_the_checkpoint_is_cleaned_on_open(tmp_path: Path, notes: NoteSigner) -> None:
    store = open_store(tmp_path, notes)
    store.append(entries(0, 300), notes.extend(entries(0, 300)))
    store.close()
    # What a batch that died before its checkpoint leaves (wider and later partials, temp
    # files), and a crash right after one (partials of a tile now full).
    for debris in (
        tile_path(0, 1, 60),
        tile_path(0, 2, 3),
        entries_path(1, 60),
        tile_path(0, 0, 9),
    ):
        (tmp_path / debris).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / debris).write_bytes(b"x")
    (tmp_path / ".tmp" / "123-4").write_bytes(b"half a tile")
    store = open_store(tmp_path, notes)
    assert partial_files(tmp_path) == sorted(
        [tile_path(0, 1, 44), tile_path(1, 0, 1), entries_path(1, 44)]
    )
    assert os.listdir(tmp_path / ".tmp") == []
    store.append(entries(300, 301), notes.extend(entries(300, 301)))
    assert (
        verify_tiled_log(
            DirectorySource(tmp_path),
            [notes.verifier],
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        ).size
        == 301
    )


def test_older_trees_are_served_from_superseded_tiles(tmp_path: Path, notes: NoteSigner) -> None:
    """Proofs for an old checkpoint still work after its partial tiles were deleted."""
    store = open_store(tmp_path, notes)
    store.append(entries(0, 300), notes.extend(entries(0, 300)))
    old_root = notes.frontier.root()
    store.append(entries(300, 700), notes.extend(entries(300, 700)))
    assert not (tmp_path / tile_path(0, 1, 44)).exists()
    source = StoreTileSource(store, size=300)
    assert source.read(tile_path(0, 1, 44)) == (tmp_path / tile_path(0, 1)).read_bytes()[: 44 * 32]
    assert source.read(tile_path(0, 2)) is None  # beyond the tree of 300
    assert read_entry_bundle(source, 1, 300) == entries(256, 300)
    old = TileHashReader(source, 300)
    for index in (0, 255, 256, 299):
        proof = inclusion_proof(old, index, 300)
        verify_inclusion(
            leaf_hash=leaf_hash(entry(index)), index=index, size=300, proof=proof, root=old_root
        )
    new = TileHashReader(StoreTileSource(store, size=700), 700)
    verify_consistency(
        size1=300,
        size2=700,
        root1=old_root,
        root2=notes.frontier.root(),
        proof=consistency_proof(new, 300, 700),
    )
    assert store.read_entries(250, 310, size=300 + 10) == entries(250, 310)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tile/0/000", (0, 0, 256)),
        ("tile/entries/x001/234.p/5", (-1, 1234, 5)),
        ("tile/2/x001/x002/003", (2, 1_002_003, 256)),
        ("tile/0/000.p/256", None),
        ("tile/0/000.p/0", None),
        ("tile/0/000.p/05", None),
        ("tile/0/x000/001", None),
        ("tile/0/1", None),
        ("tile/00/000", None),
        ("tile/../000", None),
        ("tile/0/000/", None),
        ("checkpoint", None),
    ],
)
def test_tile_paths_are_parsed_strictly(path: str, expected: tuple[int, int, int] | None) -> None:
    ref = parse_tile_path(path)
    assert (None if ref is None else (ref.level, ref.index, ref.width)) == expected
    if ref is not None:
        assert ref.path == path
