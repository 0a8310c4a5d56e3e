"""Private log payloads were world-readable on disk: an agent's log directory was 0755
and its payload index (what users said) 0644. Everything a log writes is owner-only:
directories 0700, files 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_runtime.log.durable import DurableWriter, private_dirs
from anima_runtime.log.index import EntryIndex
from anima_runtime.log.items import LogItem
from anima_runtime.log.service import INDEX_FILE
from anima_verify.tlog.entry import EntryKind
from tests.log.conftest import LogOpener


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: modes must come from the code, not from a strict umask."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_owner_only(root: Path) -> None:
    assert mode(root) == 0o700, root
    for path in root.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), (path, oct(mode(path)))


async def test_private_log_payloads_world_readable_on_disk(
    tmp_path: Path, open_log: LogOpener
) -> None:
    root = tmp_path / "logs"
    log = await open_log(root / "alice")
    await log.append(
        [
            LogItem(EntryKind.MESSAGE_IN, "sam", f"r{i}", b"my card is 4111 %d" % i)
            for i in range(300)
        ]
    )
    directory = root / "alice"
    assert (directory / INDEX_FILE).exists() and (directory / f"{INDEX_FILE}-wal").exists()
    assert any(p.is_file() for p in (directory / "tiles").rglob("*"))
    assert_owner_only(root)


def test_an_index_left_readable_by_an_older_version_is_made_owner_only(tmp_path: Path) -> None:
    path = tmp_path / INDEX_FILE
    EntryIndex(path).close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").touch()
        os.chmod(f"{path}{suffix}", 0o644)
    index = EntryIndex(path)
    try:
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{path}{suffix}")) == 0o600, suffix
    finally:
        index.close()


def test_durable_writes_and_their_directories_are_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    DurableWriter.prepare(root)
    writer = DurableWriter(root)
    writer.write_all({"tile/0/x/001": b"one", "checkpoint": b"two"})
    writer.sync()
    assert mode(tmp_path / "a") == 0o700
    assert_owner_only(root)


def test_private_dirs_leaves_existing_directories_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    private_dirs(shared / "x" / "y")
    assert mode(shared) == 0o755
    assert mode(shared / "x") == mode(shared / "x" / "y") == 0o700
