"""What the explorer's tests need: node with the pinned packages, and for the
browser tests Debian's Chromium (`./dev test` installs it with apt where missing)."""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from anima_verify.tlog.entry import EntryKind, LogEntry
from tests.contracts.conftest import INSTALL_HINT, NODE_MODULES, REPO_ROOT
from tests.tlog.tiled_log import TiledLog, write_tiled_log

WEB = REPO_ROOT / "web"
# Debian's package installs the real binary here; /usr/bin/chromium is a shell wrapper.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_HINT = "apt-get install chromium (./dev test installs it where missing)"
ARTIFACTS = REPO_ROOT / "tests" / "web" / "artifacts"  # gitignored: screenshots of each state


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH: the explorer's tests need Node.js 20.19+")
    if not (NODE_MODULES / "playwright-core").is_dir() or not (NODE_MODULES / "esbuild").is_dir():
        pytest.fail(f"the explorer's Node packages are not installed: {INSTALL_HINT}")
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    pytest.fail(f"Chromium is not installed: {CHROMIUM_HINT}")


@dataclass(frozen=True)
class AnimaLog:
    log: TiledLog
    agent: str
    entries: list[bytes]


def anima_entry(agent: str, i: int) -> bytes:
    """A varied, valid Anima entry: kinds, non-ASCII and escaped labels."""
    kinds = list(EntryKind)
    actors = ["user-1", "Zoë", 'quote"d\\actor', "agent", "signer"]
    rooms = ["general", "café ☕", "room/2"]
    return LogEntry(
        agent=agent,
        index=i,
        time_ms=1_760_000_000_000 + 1000 * i,
        kind=kinds[i % len(kinds)],
        actor=actors[i % len(actors)],
        room=rooms[i % len(rooms)],
        payload_sha256=i.to_bytes(32, "big"),
        payload_size=i * 3,
    ).encode()


def write_anima_log(
    root: Path, size: int, *, agent: str, partial_sizes: tuple[int, ...] = ()
) -> AnimaLog:
    """A C2SP tiled log of Anima entries, written by the test writer (independent of
    the runtime's), with the checkpoint at `size` signed by a fresh key."""
    log = write_tiled_log(
        root,
        size,
        entry=lambda i: anima_entry(agent, i),
        origin=f"anima.test/agents/{agent}",
        partial_sizes=partial_sizes,
    )
    return AnimaLog(log=log, agent=agent, entries=[anima_entry(agent, i) for i in range(size)])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
