"""Tile sources (directory, HTTP) and TileHashReader, against logs written by
the independent test writer in tiled_log.py."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

import pytest

from anima_verify.tlog import reader as reader_module
from anima_verify.tlog.errors import MalformedTile, MissingTile
from anima_verify.tlog.merkle import (
    consistency_proof,
    inclusion_proof,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from anima_verify.tlog.reader import (
    DirectorySource,
    HttpSource,
    LogSourceError,
    TileHashReader,
    TileLevelsCache,
    read_entry_bundle,
    read_hash_tile,
)
from tests.tlog.http_server import serve_directory
from tests.tlog.tiled_log import TiledLog, sample_entry, write_tiled_log


class RecordingSource:
    """A TileSource that remembers every path asked for."""

    def __init__(self, inner: DirectorySource) -> None:
        self.inner = inner
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def read(self, path: str) -> bytes | None:
        with self._lock:
            self.paths.append(path)
        return self.inner.read(path)


# ---------------------------------------------------------------- DirectorySource


@pytest.mark.parametrize(
    "path",
    [
        "../checkpoint",
        "tile/../../etc/passwd",
        "/etc/passwd",
        "tile//0/000",
        "tile/./0",
        ".hidden",
        "tile/0/000\x00",
        "tile\\0\\000",
        "",
        "tile/0/000/",
    ],
)
def test_directory_source_refuses_paths_that_could_leave_the_root(
    tmp_path: Path, path: str
) -> None:
    (tmp_path / "checkpoint").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a tiled-log path"):
        DirectorySource(tmp_path / "log").read(path)


def test_directory_source_reads_tiles_and_answers_none_when_absent(tmp_path: Path) -> None:
    (tmp_path / "tile" / "0" / "x001").mkdir(parents=True)
    (tmp_path / "tile" / "0" / "x001" / "234.p").mkdir()
    (tmp_path / "tile" / "0" / "x001" / "234.p" / "5").write_bytes(b"tile bytes")
    source = DirectorySource(tmp_path)
    assert source.read("tile/0/x001/234.p/5") == b"tile bytes"
    assert source.read("tile/0/x001/234") is None
    assert source.read("tile/0/x001/234.p") is None  # a directory is not a tile
    assert source.read("tile/0/x001/234.p/5/6") is None  # below a file
    assert DirectorySource(tmp_path / "nowhere").read("checkpoint") is None


def test_directory_source_reports_unreadable_files_as_io_errors(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").symlink_to("checkpoint")  # ELOOP, whoever reads it
    with pytest.raises(LogSourceError, match=r"cannot read .*checkpoint: Too many levels"):
        DirectorySource(tmp_path).read("checkpoint")


# ---------------------------------------------------------------- HttpSource


def test_http_source_reads_over_real_http_with_404_as_absent(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 300)
    with serve_directory(tmp_path) as url, HttpSource(url.rstrip("/")) as source:
        assert source.read("checkpoint") == log.path("checkpoint").read_bytes()
        assert source.read("tile/0/001.p/44") == log.path("tile/0/001.p/44").read_bytes()
        assert source.read("tile/0/002") is None
        with pytest.raises(ValueError, match="not a tiled-log path"):
            source.read("../secret")


def test_http_source_names_the_url_and_status_of_server_errors(tmp_path: Path) -> None:
    write_tiled_log(tmp_path, 3)
    failing = {"/checkpoint": 500, "/tile/0/000.p/3": 403}
    with serve_directory(tmp_path, status_for=failing.get) as url, HttpSource(url) as source:
        with pytest.raises(LogSourceError, match=r"checkpoint answered HTTP 500"):
            source.read("checkpoint")
        with pytest.raises(LogSourceError, match=r"000\.p/3 answered HTTP 403"):
            source.read("tile/0/000.p/3")


def test_http_source_reports_an_unreachable_server_as_an_io_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    failed = rf"127\.0\.0\.1:{port}/log/checkpoint failed"
    source = HttpSource(f"http://127.0.0.1:{port}/log", timeout=2)
    with source, pytest.raises(LogSourceError, match=failed):
        source.read("checkpoint")


def test_http_source_refuses_bodies_larger_than_any_tile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tiled_log(tmp_path, 300)
    monkeypatch.setattr(reader_module, "MAX_RESPONSE_BYTES", 2000)
    with serve_directory(tmp_path) as url, HttpSource(url) as source:
        assert source.read("tile/0/001.p/44") is not None  # 44 hashes, 1408 bytes
        with pytest.raises(LogSourceError, match="more than 2000 bytes"):
            source.read("tile/0/000")


def test_http_source_wants_an_http_url() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpSource("file:///tmp/log")


def test_http_source_reports_a_malformed_url_as_a_source_error() -> None:
    """Regression: httpx.InvalidURL is not an httpx.HTTPError, so it escaped read()."""
    for url in ("http://[::1", "http://host:port/log"):
        with pytest.raises(LogSourceError, match="is not a valid URL"):
            HttpSource(url)


# ---------------------------------------------------------------- TileHashReader


def _assert_reader_matches(log: TiledLog, reader: TileHashReader, size: int) -> None:
    root = log.root_hash(size)
    assert tree_root(reader, size) == root
    rng = random.Random(size)
    indices = {0, size - 1, size // 2, *(rng.randrange(size) for _ in range(10))}
    for index in indices:
        proof = inclusion_proof(reader, index, size)
        assert proof == inclusion_proof(log, index, size)
        verify_inclusion(
            leaf_hash=log.node(0, index), index=index, size=size, proof=proof, root=root
        )
    sizes = {1, size // 3 or 1, size - 1 or 1, size, *(rng.randrange(size) + 1 for _ in range(10))}
    for size1 in sizes:  # no proof exists from the empty tree
        proof = consistency_proof(reader, size1, size)
        assert proof == consistency_proof(log, size1, size)
        verify_consistency(
            size1=size1, size2=size, root1=log.root_hash(size1), root2=root, proof=proof
        )


@pytest.mark.parametrize("size", [1, 2, 7, 255, 256, 257, 511, 4096, 65535, 65536, 65537])
def test_tile_hash_reader_proofs_equal_in_memory_proofs_and_verify(
    tmp_path: Path, size: int
) -> None:
    log = write_tiled_log(tmp_path, size)
    _assert_reader_matches(log, TileHashReader(DirectorySource(tmp_path), size), size)


def test_tile_hash_reader_falls_back_to_full_tiles_when_partials_were_deleted(
    tmp_path: Path,
) -> None:
    log = write_tiled_log(tmp_path, 65536, keep_partials=False)
    size = 65536 - 100  # level 0 tile 255 and level 1 tile 0 are partial at this size
    source = RecordingSource(DirectorySource(tmp_path))
    reader = TileHashReader(source, size)
    _assert_reader_matches(log, reader, size)
    assert "tile/0/255.p/156" in source.paths and "tile/0/255" in source.paths
    assert "tile/1/000.p/255" in source.paths and "tile/1/000" in source.paths


def test_tile_hash_reader_prefers_the_partial_tile_of_its_size(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 600, partial_sizes=[300])
    source = RecordingSource(DirectorySource(tmp_path))
    _assert_reader_matches(log, TileHashReader(source, 300), 300)
    assert "tile/0/001.p/44" in source.paths
    assert "tile/0/001" not in source.paths  # it does not exist, and is never asked for


def test_tile_hash_reader_names_a_missing_tile(tmp_path: Path) -> None:
    write_tiled_log(tmp_path, 600)
    reader = TileHashReader(DirectorySource(tmp_path), 520)  # the log never was at 520
    with pytest.raises(MissingTile, match=r"tile/0/002\.p/8 is missing \(and so is tile/0/002\)"):
        reader.node(0, 515)
    (tmp_path / "tile" / "0" / "000").unlink()
    with pytest.raises(MissingTile, match="hash tile tile/0/000 is missing"):
        TileHashReader(DirectorySource(tmp_path), 600).node(0, 3)


@pytest.mark.parametrize(("cut", "pad"), [(1, b""), (32, b""), (0, b"\x00"), (0, b"\x00" * 32)])
def test_tile_hash_reader_refuses_tiles_of_the_wrong_length(
    tmp_path: Path, cut: int, pad: bytes
) -> None:
    write_tiled_log(tmp_path, 300)
    tile = tmp_path / "tile" / "0" / "001.p" / "44"
    data = tile.read_bytes()
    tile.write_bytes(data[: len(data) - cut] + pad)
    want = f"is {len(data) - cut + len(pad)} bytes, want {len(data)}"
    with pytest.raises(MalformedTile, match=rf"tile/0/001\.p/44 {want}"):
        TileHashReader(DirectorySource(tmp_path), 300).node(0, 290)


def test_a_truncated_full_tile_is_refused_as_a_fallback_too(tmp_path: Path) -> None:
    write_tiled_log(tmp_path, 512, keep_partials=False)
    full = tmp_path / "tile" / "0" / "001"
    full.write_bytes(full.read_bytes()[:-32])
    with pytest.raises(MalformedTile, match="tile/0/001 is 8160 bytes, want 8192"):
        TileHashReader(DirectorySource(tmp_path), 300).node(0, 290)


def test_tile_hash_reader_refuses_nodes_outside_its_tree(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 300)
    reader = TileHashReader(DirectorySource(tmp_path), 300)
    for level, index in [(0, 300), (2, 75), (9, 0), (0, -1), (-1, 0)]:
        with pytest.raises(ValueError, match="not a complete subtree"):
            reader.node(level, index)
    assert reader.node(2, 74) == log.node(2, 74)  # the last complete one


def test_tile_hash_reader_caches_decoded_tiles_lru(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 4 * 256)
    source = RecordingSource(DirectorySource(tmp_path))
    reader = TileHashReader(source, 4 * 256, cache_tiles=2)
    for _ in range(3):
        assert reader.node(3, 1) == log.node(3, 1)  # tile 0
        assert reader.node(0, 300) == log.node(0, 300)  # tile 1
    assert source.paths == ["tile/0/000", "tile/0/001"]
    reader.node(0, 5)  # a hit: tile 0 is now the most recently used
    reader.node(0, 600)  # tile 2 evicts tile 1, the least recently used
    reader.node(0, 6)
    reader.node(0, 301)
    assert source.paths == ["tile/0/000", "tile/0/001", "tile/0/002", "tile/0/001"]
    assert reader.node(8, 0) == log.node(8, 0)  # from tile/1/000.p/4 ...
    assert reader.node(9, 0) == log.node(9, 0)  # ... and hashed up one level inside it


def test_readers_of_one_log_share_a_cache_across_sizes(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 600)
    source = RecordingSource(DirectorySource(tmp_path))
    cache = TileLevelsCache(16)
    small = TileHashReader(source, 300, cache=cache)
    large = TileHashReader(source, 600, cache=cache)
    assert small.node(0, 10) == large.node(0, 10) == log.node(0, 10)  # full tile 0: read once
    assert small.node(0, 290) == log.node(0, 290)  # tile 1 has 44 hashes at size 300 ...
    assert large.node(0, 290) == log.node(0, 290)  # ... and 256 at 600: another cache entry
    assert small.node(0, 299) == log.node(0, 299)  # both now cached: no further reads
    assert large.node(0, 511) == log.node(0, 511)
    # The 600-entry log keeps no partial tile for 44: the small reader falls back to the full one.
    assert source.paths == ["tile/0/000", "tile/0/001.p/44", "tile/0/001", "tile/0/001"]


def test_tile_hash_reader_serves_threads_at_once(tmp_path: Path) -> None:
    size = 3 * 256 + 17
    log = write_tiled_log(tmp_path, size)
    reader = TileHashReader(DirectorySource(tmp_path), size, cache_tiles=2)
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(300):
                index = rng.randrange(size)
                assert inclusion_proof(reader, index, size) == inclusion_proof(log, index, size)
        except BaseException as exc:  # collected and re-raised in the test thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]


# ---------------------------------------------------------------- entry bundles


def test_read_entry_bundle_reads_full_and_partial_bundles(tmp_path: Path) -> None:
    write_tiled_log(tmp_path, 300)
    source = DirectorySource(tmp_path)
    assert read_entry_bundle(source, 0, 300) == [sample_entry(i) for i in range(256)]
    assert read_entry_bundle(source, 1, 300) == [sample_entry(i) for i in range(256, 300)]
    with pytest.raises(ValueError, match="beyond a log of size 300"):
        read_entry_bundle(source, 2, 300)


def test_read_entry_bundle_falls_back_to_the_full_bundle(tmp_path: Path) -> None:
    write_tiled_log(tmp_path, 512, keep_partials=False)
    entries = read_entry_bundle(DirectorySource(tmp_path), 1, 300)
    assert entries == [sample_entry(i) for i in range(256, 300)]


def test_read_entry_bundle_names_the_bundle_that_is_malformed(tmp_path: Path) -> None:
    write_tiled_log(tmp_path, 300)
    bundle = tmp_path / "tile" / "entries" / "001.p" / "44"
    bundle.write_bytes(bundle.read_bytes() + b"\x00")
    with pytest.raises(MalformedTile, match=r"tile/entries/001\.p/44: .*length of entry 44"):
        read_entry_bundle(DirectorySource(tmp_path), 1, 300)
    (tmp_path / "tile" / "entries" / "000").unlink()
    with pytest.raises(MissingTile, match="entry bundle tile/entries/000 is missing"):
        read_entry_bundle(DirectorySource(tmp_path), 0, 300)


def test_read_hash_tile_returns_the_path_it_read(tmp_path: Path) -> None:
    log = write_tiled_log(tmp_path, 512, keep_partials=False)
    path, data = read_hash_tile(DirectorySource(tmp_path), 0, 1, 10)
    assert path == "tile/0/001"
    assert data == log.levels[0][256 * 32 : 266 * 32]
