"""The change feed's journal against the store it describes: the journal is written
first and the store second (no shared transaction), so a store write that never
landed must not appear in a delta, and a delete that never landed must not become a
tombstone. In process: the real embedded store, the service's own locks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from anima_memory.changes import ChangeJournal
from anima_memory.service import MemoryService
from anima_memory.store.edge import EdgeStore
from anima_memory_api.errors import ChangeCursorAhead, InvalidMemoryRequest
from anima_memory_api.types import DIMENSION, Memory, MemoryDraft, Vector
from tests.memory.conftest import AGENT
from tests.memory.test_export_import import unit


class NoEmbedder:
    """Every draft here carries its vector; embedding one would be a test bug."""

    dimension = DIMENSION
    model_name = "none"

    async def embed(self, texts: Sequence[str]) -> Vector:
        raise AssertionError("no embedding expected")

    async def aclose(self) -> None:
        return None


class FailingStore(EdgeStore):
    """The embedded store whose next write fails, as a crash between journal and store."""

    fail_next = False

    def _maybe_fail(self) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")

    def upsert(self, memories: Sequence[Memory]) -> None:
        self._maybe_fail()
        super().upsert(memories)

    def delete(self, ids: Sequence[str]) -> None:
        self._maybe_fail()
        super().delete(ids)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MemoryService]:
    store = FailingStore.open(tmp_path / "store", dimension=DIMENSION)
    journal = ChangeJournal(tmp_path / "changes.sqlite3")
    yield MemoryService(store, NoEmbedder(), journal=journal)
    store.close()
    journal.close()


def draft(i: int) -> MemoryDraft:
    return MemoryDraft(
        agent_id=AGENT,
        entity_id="u",
        room_id="r",
        table="facts",
        text=f"fact {i}",
        vector=np.asarray(unit(i), dtype=np.float32),
    )


async def test_a_write_that_never_landed_is_not_in_the_delta(service: MemoryService) -> None:
    (kept,) = [r.id for r in await service.create([draft(1)])]
    store = service.store
    assert isinstance(store, FailingStore)
    store.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        await service.create([draft(2)])
    changed, written = await service.changes(AGENT, 0)
    assert changed.sequence == 2  # the journal counted the attempt ...
    assert [m.id for m in written] == [kept]  # ... the delta reflects the store
    assert changed.deleted == ()


async def test_a_delete_that_never_landed_is_no_tombstone(service: MemoryService) -> None:
    ids = [r.id for r in await service.create([draft(1), draft(2)])]
    store = service.store
    assert isinstance(store, FailingStore)
    store.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        await service.delete(AGENT, ids[0])
    changed, written = await service.changes(AGENT, 1)
    assert changed.deleted == () and written == []  # still stored: nothing to delete
    assert await service.delete(AGENT, ids[0])  # the retry lands and is a tombstone
    changed, _ = await service.changes(AGENT, 1)
    assert changed.deleted == (ids[0],)


async def test_cursors_are_checked(service: MemoryService) -> None:
    await service.create([draft(1)])
    with pytest.raises(ChangeCursorAhead):
        await service.changes(AGENT, 2)
    with pytest.raises(InvalidMemoryRequest, match="since"):
        await service.changes(AGENT, -1)


def test_the_journal_collapses_a_range_to_its_net_effect(tmp_path: Path) -> None:
    journal = ChangeJournal(tmp_path / "j.sqlite3")
    journal.record(AGENT, "put", ["a", "b"])  # 1
    journal.record(AGENT, "del", ["a"])  # 2
    journal.record(AGENT, "put", ["a", "c"])  # 3: a written again with the same id
    journal.record(AGENT, "put", ["d"])  # 4
    journal.record(AGENT, "del", ["d"])  # 5: born and gone inside the range
    journal.record("bob", "put", ["z"])  # another agent's sequence
    since_1 = journal.since(AGENT, 1)
    assert (since_1.written, since_1.deleted, since_1.sequence) == (("a", "c"), ("a",), 5)
    since_0 = journal.since(AGENT, 0)
    assert (since_0.written, since_0.deleted) == (("a", "b", "c"), ())
    assert journal.head("bob") == 1
    journal.restart_at(AGENT, 40)  # an import continues the exporter's sequence
    assert journal.head(AGENT) == 40 and journal.since(AGENT, 40).written == ()
    journal.close()
