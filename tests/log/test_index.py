"""EntryIndex: filters, payload validation, redaction, and rebuilding from the tiles."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log.errors import (
    EntryNotFound,
    PayloadMismatch,
    PayloadRedacted,
    RedactionIncomplete,
)
from anima_runtime.log.index import EntryIndex
from anima_runtime.log.items import LogItem
from anima_runtime.log.service import INDEX_FILE, AgentLog
from anima_runtime_api.types import EntryFilter
from anima_verify.tlog.entry import EntryKind, LogEntry
from tests.log.conftest import AGENT


def make_entry(
    index: int,
    payload: bytes,
    *,
    kind: EntryKind = EntryKind.MESSAGE_IN,
    room: str = "r",
    actor: str = "a",
    time_ms: int = 0,
) -> LogEntry:
    return LogEntry(
        agent=AGENT,
        index=index,
        time_ms=time_ms or 1000 + index,
        kind=kind,
        actor=actor,
        room=room,
        payload_sha256=hashlib.sha256(payload).digest(),
        payload_size=len(payload),
    )


@pytest.fixture
def index(tmp_path: Path) -> EntryIndex:
    idx = EntryIndex(tmp_path / "index.sqlite3")
    yield idx
    idx.close()


def test_a_payload_must_match_its_entry(index: EntryIndex) -> None:
    entry = make_entry(0, b"hello")
    with pytest.raises(PayloadMismatch, match="does not match the entry's sha256"):
        index.add([entry], {0: b"hellO"})
    with pytest.raises(PayloadMismatch, match="without its entry"):
        index.add([entry], {1: b"hello"})
    assert index.indexed_size() == 0  # nothing stored
    index.add([entry], {0: b"hello"})
    assert index.payload(0) == b"hello"


def test_filters_and_pagination(index: EntryIndex) -> None:
    rows = [
        make_entry(
            i,
            b"p%d" % i,
            room=f"room{i % 3}",
            actor=f"actor{i % 2}",
            kind=EntryKind.RESPONSE if i % 4 == 0 else EntryKind.MESSAGE_IN,
        )
        for i in range(40)
    ]
    index.add(rows, {})
    hits = index.search(EntryFilter(room="room1"), after=-1, below=40, limit=100)
    assert hits == [i for i in range(40) if i % 3 == 1]
    hits = index.search(
        EntryFilter(room="room0", actor="actor0", kind=EntryKind.RESPONSE),
        after=-1,
        below=40,
        limit=100,
    )
    assert hits == [i for i in range(40) if i % 12 == 0]
    hits = index.search(EntryFilter(since_ms=1010, until_ms=1020), after=-1, below=40, limit=100)
    assert hits == list(range(10, 20))
    assert index.search(EntryFilter(), after=5, below=40, limit=3) == [6, 7, 8]
    assert index.search(EntryFilter(), after=30, below=33, limit=10) == [31, 32]  # bounded


def test_redaction_deletes_the_payload_and_remembers_it(index: EntryIndex, tmp_path: Path) -> None:
    secret = b"a private prompt that must go " * 100
    index.add([make_entry(0, secret), make_entry(1, b"x")], {0: secret, 1: b"x"})
    assert index.redact(0, at_ms=5) is True
    assert index.redact(0, at_ms=6) is False
    with pytest.raises(PayloadRedacted):
        index.payload(0)
    with pytest.raises(EntryNotFound):
        index.payload(2)
    assert index.redacted([0, 1]) == {0}
    # secure_delete and the WAL checkpoint leave no copy of the bytes on disk.
    for path in tmp_path.iterdir():
        assert secret[:40] not in path.read_bytes(), path


def test_redaction_checks_that_the_wal_was_emptied(tmp_path: Path) -> None:
    """Regression: a busy `wal_checkpoint(TRUNCATE)` (a reader mid-query) was ignored,
    so redaction reported success while the payload's bytes stayed in the -wal file."""
    path = tmp_path / "index.sqlite3"
    index = EntryIndex(path, wal_truncate_timeout_s=0.2)
    secret = b"a private prompt that must go " * 100
    index.add([make_entry(0, secret), make_entry(1, b"x")], {0: secret, 1: b"x"})
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM payloads").fetchone()  # holds a snapshot
    with pytest.raises(RedactionIncomplete, match="a copy may remain there; retry"):
        index.redact(0, at_ms=5)
    with pytest.raises(PayloadRedacted):
        index.payload(0)  # deleted all the same
    reader.execute("COMMIT")
    reader.close()
    assert index.redact(0, at_ms=6) is False  # a retry finishes the job
    for name in ("index.sqlite3", "index.sqlite3-wal"):
        assert secret[:40] not in (tmp_path / name).read_bytes(), name
    index.close()


def test_payloads_of_an_unpublished_batch_survive_truncate_but_are_checked(
    index: EntryIndex,
) -> None:
    index.add([make_entry(0, b"a"), make_entry(1, b"b")], {0: b"a", 1: b"b"})
    index.truncate(1)
    assert index.indexed_size() == 1
    assert index.payload(1) == b"b"  # kept for when the enclave hands entry 1 back
    index.add([make_entry(1, b"something else")], {})
    with pytest.raises(EntryNotFound):  # it did not match the entry that came back
        index.payload(1)


async def test_the_index_is_rebuilt_from_the_tiles(
    tmp_path: Path, sequencer: InProcessSequencer
) -> None:
    log = await AgentLog.open(
        agent_id=AGENT, directory=tmp_path / "log", sequencer=sequencer, sync_interval_s=None
    )
    await log.append(
        [LogItem(EntryKind.ACTION, "bot", f"room{i % 2}", b"%d" % i) for i in range(600)]
    )
    size = log.size
    await log.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "log" / f"{INDEX_FILE}{suffix}").unlink(missing_ok=True)
    log = await AgentLog.open(
        agent_id=AGENT, directory=tmp_path / "log", sequencer=sequencer, sync_interval_s=None
    )
    assert log.index.indexed_size() == size
    hits = log.index.search(EntryFilter(room="room1"), after=-1, below=size, limit=1000)
    assert len(hits) == 300
    await log.close()
