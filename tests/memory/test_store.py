"""Both vector store adapters against one contract, on real engines: Qdrant Edge in
a temporary directory, and QdrantServerStore over qdrant-client's local mode (the
server's API, run in-process). Small vectors where the test is not about 384."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from anima_memory.store.base import VectorStore
from anima_memory.store.edge import EdgeStore
from anima_memory.store.qdrant_server import QdrantServerStore
from anima_memory_api.errors import StoreUnavailable
from anima_memory_api.types import Memory, MemoryFilter, check_vector

pytestmark = [
    # qdrant-client's local mode says, truthfully, that it ignores these.
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
    pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning"),
]

DIM = 16
AGENT = "agent-a"
OTHER = "agent-b"
T0 = 1_700_000_000_000  # ms

Opener = Callable[[], VectorStore]


def open_edge(path: Path, dimension: int = DIM) -> EdgeStore:
    return EdgeStore.open(path, dimension=dimension)


def open_local(path: Path, dimension: int = DIM) -> QdrantServerStore:
    return QdrantServerStore.open(QdrantClient(path=str(path)), dimension=dimension)


@pytest.fixture(params=["edge", "qdrant-local"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the store in tmp_path (again, after close); closes what is left open."""
    opened: list[VectorStore] = []

    def opener() -> VectorStore:
        store = (open_edge if request.param == "edge" else open_local)(tmp_path / "store")
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture(params=["edge", "qdrant-local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A fresh store. Local mode runs in memory here: on disk it commits every point to
    SQLite on its own (about 20 ms each), and persistence has its own test."""
    if request.param == "edge":
        opened: VectorStore = open_edge(tmp_path)
    else:
        opened = QdrantServerStore.open(QdrantClient(location=":memory:"), dimension=DIM)
    yield opened
    opened.close()


def unit(rng: np.random.Generator, count: int, dimension: int = DIM) -> np.ndarray:
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def memory(
    vector: np.ndarray,
    *,
    agent: str = AGENT,
    room: str = "room-1",
    entity: str = "user-1",
    table: str = "messages",
    created: int = T0,
    id: str | None = None,
    **extra: object,
) -> Memory:
    return Memory(
        id=id or str(uuid.uuid4()),
        agent_id=agent,
        entity_id=entity,
        room_id=room,
        table=table,
        text=f"memory in {room} at {created}",
        created_at_ms=created,
        vector=vector,
        **extra,  # type: ignore[arg-type]
    )


def ids(memories: list[Memory]) -> list[str]:
    return [m.id for m in memories]


# ------------------------------------------------------------------ the contract


def test_upsert_then_get_round_trips_every_field(store: VectorStore) -> None:
    vector = unit(np.random.default_rng(1), 1)[0]
    fields = {"source": "discord", "tags": ["a", "b"], "nested": {"n": 1, "x": None}}
    stored = memory(vector, fields=fields, unique=True, created=T0 + 5)

    store.upsert([stored])

    [without] = store.get([stored.id])
    assert replace(without, vector=stored.vector) == stored
    assert without.vector.size == 0
    [with_vector] = store.get([stored.id], with_vectors=True)
    np.testing.assert_allclose(with_vector.vector, vector, atol=1e-6)


def test_get_keeps_the_order_asked_for_and_skips_missing(store: VectorStore) -> None:
    batch = [memory(v) for v in unit(np.random.default_rng(2), 3)]
    store.upsert(batch)
    wanted = [batch[2].id, str(uuid.uuid4()), batch[0].id]
    assert ids(store.get(wanted)) == [batch[2].id, batch[0].id]
    assert store.get([]) == []


def test_upsert_overwrites_by_id(store: VectorStore) -> None:
    first, second = unit(np.random.default_rng(3), 2)
    original = memory(first, room="room-1")
    store.upsert([original])
    store.upsert([replace(original, room_id="room-2", vector=second, text="rewritten")])

    [now] = store.get([original.id], with_vectors=True)
    assert (now.room_id, now.text) == ("room-2", "rewritten")
    np.testing.assert_allclose(now.vector, second, atol=1e-6)
    assert store.count(MemoryFilter(agent_id=AGENT)) == 1


def test_exact_search_ranks_as_numpy_cosine_does(store: VectorStore) -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 300)
    batch = [memory(v) for v in vectors]
    store.upsert(batch)

    for query in unit(rng, 5):
        hits = store.search(query, MemoryFilter(agent_id=AGENT), 10, exact=True)
        scores = vectors @ query
        best = np.argsort(-scores)[:10]
        assert [h.memory.id for h in hits] == [batch[i].id for i in best]
        np.testing.assert_allclose([h.score for h in hits], scores[best], atol=1e-5)


def test_search_min_score_and_vectors(store: VectorStore) -> None:
    rng = np.random.default_rng(5)
    vectors = unit(rng, 100)
    store.upsert([memory(v) for v in vectors])
    query = vectors[0]
    ranked = np.sort(vectors @ query)
    threshold = float(ranked[-4] + ranked[-5]) / 2  # between the 4th and 5th best

    hits = store.search(query, MemoryFilter(agent_id=AGENT), 10, min_score=threshold, exact=True)
    assert len(hits) == 4
    assert all(h.score >= threshold for h in hits)
    assert all(h.memory.vector.size == 0 for h in hits)

    [best] = store.search(query, MemoryFilter(agent_id=AGENT), 1, with_vectors=True)
    np.testing.assert_allclose(best.memory.vector, query, atol=1e-6)
    assert best.score == pytest.approx(1.0, abs=1e-5)


def test_a_stored_vector_written_again_is_the_same_bytes(store: VectorStore) -> None:
    """What export -> import -> export does to a vector: check_vector and the store's own
    normalization must both leave a vector the store returned exactly as it is."""
    rng = np.random.default_rng(8)
    raw = rng.normal(size=(200, DIM)).astype(np.float32) * 3
    first = [memory(check_vector(v, DIM, "vector")) for v in raw]
    store.upsert(first)
    stored = store.get([m.id for m in first], with_vectors=True)
    again = [
        replace(m, id=str(uuid.uuid4()), vector=check_vector(m.vector, DIM, "v")) for m in stored
    ]
    store.upsert(again)
    reread = store.get([m.id for m in again], with_vectors=True)
    for before, after in zip(stored, reread, strict=True):
        assert before.vector.tobytes() == after.vector.tobytes()


def mixed_population(store: VectorStore) -> list[Memory]:
    """Two agents; rooms, entities, tables and times varied independently."""
    rng = np.random.default_rng(6)
    population = [
        memory(
            vector,
            agent=(AGENT, OTHER)[i % 2],
            room=f"room-{i % 3}",
            entity=f"user-{i % 4}",
            table=("messages", "facts", "documents")[i % 5 % 3],
            created=T0 + i // 2,
        )
        for i, vector in enumerate(unit(rng, 120))
    ]
    store.upsert(population)
    return population


def matches(m: Memory, where: MemoryFilter) -> bool:
    return (
        m.agent_id == where.agent_id
        and where.room_id in (None, m.room_id)
        and where.entity_id in (None, m.entity_id)
        and where.table in (None, m.table)
        and (where.created_from_ms is None or m.created_at_ms >= where.created_from_ms)
        and (where.created_until_ms is None or m.created_at_ms < where.created_until_ms)
    )


FILTERS = [
    MemoryFilter(agent_id=AGENT),
    MemoryFilter(agent_id=OTHER),
    MemoryFilter(agent_id="nobody"),
    MemoryFilter(agent_id=AGENT, room_id="room-1"),
    MemoryFilter(agent_id=AGENT, entity_id="user-2"),
    MemoryFilter(agent_id=AGENT, table="facts"),
    MemoryFilter(agent_id=AGENT, created_from_ms=T0 + 10),  # inclusive
    MemoryFilter(agent_id=AGENT, created_until_ms=T0 + 10),  # exclusive
    MemoryFilter(agent_id=AGENT, created_from_ms=T0 + 10, created_until_ms=T0 + 11),
    MemoryFilter(
        agent_id=OTHER,
        room_id="room-2",
        entity_id="user-1",
        table="facts",
        created_from_ms=T0 + 3,
        created_until_ms=T0 + 50,
    ),
]


def test_filters_select_exactly_the_matching_memories(store: VectorStore) -> None:
    population = mixed_population(store)
    query = population[0].vector
    for where in FILTERS:
        expected = {m.id for m in population if matches(m, where)}
        assert store.count(where) == len(expected), where
        hits = store.search(query, where, 200, exact=True)
        assert {h.memory.id for h in hits} == expected, where
        assert {m.id for m in store.recent(where, 200)} == expected, where
        page, _ = store.scroll(where, None, 200)
        assert {m.id for m in page} == expected, where
    # Bounds really bite: the from/until filter above matches something.
    assert store.count(FILTERS[8]) == 1


def test_no_query_sees_another_agents_memories(store: VectorStore) -> None:
    population = mixed_population(store)
    other = next(m for m in population if m.agent_id == OTHER)
    where = MemoryFilter(agent_id=AGENT)
    # The other agent's memory is the exact match for this query; still unseen.
    hits = store.search(other.vector, where, 200)
    assert hits and all(h.memory.agent_id == AGENT for h in hits)
    assert all(m.agent_id == AGENT for m in store.recent(where, 200))
    assert all(m.agent_id == AGENT for m in store.scroll(where, None, 200)[0])


def test_recent_is_newest_first_with_ties_in_id_order(store: VectorStore) -> None:
    rng = np.random.default_rng(7)
    vectors = iter(unit(rng, 41))
    # Ten memories share one millisecond (a batch); the rest come in pairs.
    batch = [memory(next(vectors), created=T0 + 100) for _ in range(10)]
    spread = [memory(next(vectors), created=T0 + i // 2 * 7) for i in range(30)]
    other = [memory(next(vectors), agent=OTHER, created=T0 + 10_000)]
    store.upsert(batch + spread + other)

    everything = sorted(batch + spread, key=lambda m: (-m.created_at_ms, m.id))
    for limit in (1, 5, 10, 19, 20, 40, 100):
        got = store.recent(MemoryFilter(agent_id=AGENT), limit)
        assert ids(got) == ids(everything[:limit]), limit
    assert all(m.vector.size == 0 for m in got)


def test_count_delete_and_delete_where(store: VectorStore) -> None:
    population = mixed_population(store)
    mine = [m for m in population if m.agent_id == AGENT]
    everyone_else = len(population) - len(mine)

    store.delete([mine[0].id, mine[1].id, str(uuid.uuid4())])  # a missing id is ignored
    store.delete([])
    assert store.count(MemoryFilter(agent_id=AGENT)) == len(mine) - 2
    assert store.get([mine[0].id]) == []

    room_1 = MemoryFilter(agent_id=AGENT, room_id="room-1")
    kept = [m for m in mine[2:] if not matches(m, room_1)]
    store.delete_where(room_1)
    assert store.count(room_1) == 0
    assert {m.id for m in store.scroll(MemoryFilter(agent_id=AGENT), None, 500)[0]} == {
        m.id for m in kept
    }
    assert store.count(MemoryFilter(agent_id=OTHER)) == everyone_else


def test_scroll_pages_cover_every_memory_once_in_id_order(store: VectorStore) -> None:
    population = mixed_population(store)
    mine = {m.id: m for m in population if m.agent_id == AGENT}
    seen: list[Memory] = []
    offset: str | None = None
    pages = 0
    while True:
        page, offset = store.scroll(MemoryFilter(agent_id=AGENT), offset, 7)
        seen.extend(page)
        pages += 1
        if offset is None:
            break
    assert pages >= len(mine) // 7
    assert ids(seen) == sorted(mine)
    for m in seen:
        np.testing.assert_allclose(m.vector, mine[m.id].vector, atol=1e-6)


def test_memories_survive_close_and_reopen(reopen: Opener) -> None:
    store = reopen()
    population = mixed_population(store)
    store.close()

    again = reopen()
    assert again.count(MemoryFilter(agent_id=AGENT)) == 60
    [first] = again.get([population[0].id], with_vectors=True)
    assert replace(first, vector=population[0].vector) == population[0]
    np.testing.assert_allclose(first.vector, population[0].vector, atol=1e-6)


def test_stats_count_points(store: VectorStore) -> None:
    assert store.stats().points == 0
    mixed_population(store)
    stats = store.stats()
    assert stats.points == 120
    assert stats.segments >= 1
    assert 0 <= stats.indexed_points <= stats.points


# ------------------------------------------------------------------ edge only


@pytest.mark.parametrize("quantize_int8", [True, False], ids=["int8-copies", "float32-only"])
@pytest.mark.parametrize("hnsw_m", [16, 0], ids=["global-graph", "per-agent-graph-only"])
def test_edge_recall_after_optimize(tmp_path: Path, hnsw_m: int, quantize_int8: bool) -> None:
    """With the graph built (thresholds scaled down to a few thousand points). Scores
    are exact float32 cosines even when the graph is walked on int8 copies (rescored),
    so min_score, and the duplicate check built on it, keep their meaning."""
    store = EdgeStore.open(
        tmp_path,
        dimension=DIM,
        hnsw_m=hnsw_m,
        quantize_int8=quantize_int8,
        full_scan_points=100,
        index_points=500,
        segment_points=20_000,
    )
    try:
        rng = np.random.default_rng(8)
        vectors = unit(rng, 3000)
        batch = [memory(v) for v in vectors]
        store.upsert(batch)
        assert store.stats().indexed_points == 0
        store.optimize()
        assert store.stats().indexed_points == 3000

        recalls = []
        row_of = {m.id: n for n, m in enumerate(batch)}
        for query in unit(rng, 50):
            hits = store.search(query, MemoryFilter(agent_id=AGENT), 10)
            truth = {batch[i].id for i in np.argsort(-(vectors @ query))[:10]}
            recalls.append(len(truth & {h.memory.id for h in hits}) / 10)
            exact = [float(vectors[row_of[h.memory.id]] @ query) for h in hits]
            assert [h.score for h in hits] == pytest.approx(exact, abs=1e-5)
        assert np.mean(recalls) >= 0.95
        # A stored vector finds itself above a near-1 threshold (what dedup asks).
        hits = store.search(vectors[7], MemoryFilter(agent_id=AGENT), 1, min_score=0.9999)
        assert [h.memory.id for h in hits] == [batch[7].id]
        # exact=True ignores the int8 copies: numpy's ranking and scores.
        query = unit(rng, 1)[0]
        hits = store.search(query, MemoryFilter(agent_id=AGENT), 10, exact=True)
        order = np.argsort(-(vectors @ query))[:10]
        assert [h.memory.id for h in hits] == [batch[i].id for i in order]
    finally:
        store.close()


def test_edge_second_open_of_a_directory_is_refused(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    try:
        with pytest.raises(StoreUnavailable, match=f"{tmp_path}.*another process \\(pid"):
            open_edge(tmp_path)
    finally:
        store.close()
    open_edge(tmp_path).close()  # free again once closed


def test_edge_refuses_a_store_of_another_dimension(tmp_path: Path) -> None:
    store = open_edge(tmp_path, dimension=8)
    store.upsert([memory(unit(np.random.default_rng(9), 1, 8)[0])])
    store.close()
    with pytest.raises(StoreUnavailable, match="holds 8-dimensional vectors, but 16-dimensional"):
        open_edge(tmp_path, dimension=16)
    again = open_edge(tmp_path, dimension=8)
    assert again.count(MemoryFilter(agent_id=AGENT)) == 1
    again.close()


def test_edge_closed_store_says_so(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreUnavailable, match="is closed"):
        store.count(MemoryFilter(agent_id=AGENT))


WRITER = """
import os, signal, sys, uuid
from pathlib import Path
import numpy as np
from anima_memory_api.types import Memory
from anima_memory.store.edge import EdgeStore

store = EdgeStore.open(Path(sys.argv[1]), dimension=16)
rng = np.random.default_rng(0)
for i in range(int(sys.argv[2])):
    v = rng.normal(size=16).astype(np.float32)
    store.upsert([Memory(id=str(uuid.uuid4()), agent_id="agent-a", entity_id="u", room_id="r",
                         table="messages", text=str(i), created_at_ms=i,
                         vector=v / np.linalg.norm(v))])
print("done", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no flush, no close
"""


def test_edge_writes_survive_kill_9_without_flush(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path), "200"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "done"

    store = open_edge(tmp_path)  # the dead writer's lock went with it
    try:
        assert store.count(MemoryFilter(agent_id=AGENT)) == 200
    finally:
        store.close()


def test_edge_concurrent_writes_and_searches(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    writers, per_writer = 4, 50
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            for v in unit(rng, per_writer):
                store.upsert([memory(v, room=f"room-{seed}")])
        except BaseException as exc:
            errors.append(exc)

    def search() -> None:
        try:
            rng = np.random.default_rng(99)
            for q in unit(rng, 100):
                for hit in store.search(q, MemoryFilter(agent_id=AGENT), 5):
                    assert hit.memory.agent_id == AGENT
                store.count(MemoryFilter(agent_id=AGENT))
                store.recent(MemoryFilter(agent_id=AGENT), 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in range(writers)]
    threads += [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count(MemoryFilter(agent_id=AGENT)) == writers * per_writer
    store.close()

    again = open_edge(tmp_path)
    try:
        for seed in range(writers):
            assert again.count(MemoryFilter(agent_id=AGENT, room_id=f"room-{seed}")) == per_writer
    finally:
        again.close()


# ------------------------------------------------------------------ server only


def test_server_store_refuses_a_collection_of_another_dimension(tmp_path: Path) -> None:
    open_local(tmp_path, dimension=8).close()
    with pytest.raises(StoreUnavailable, match="holds 8-dimensional Cosine vectors"):
        open_local(tmp_path, dimension=16)


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")
def test_server_store_unreachable_is_unavailable_without_the_key() -> None:
    key = "secret-api-key-for-this-test"
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    with pytest.raises(StoreUnavailable) as caught:
        QdrantServerStore.connect(f"http://user:{key}@127.0.0.1:1", api_key=key, timeout=2)
    message = str(caught.value)
    assert "Qdrant at http://127.0.0.1:1" in message
    assert key not in message


def test_server_store_local_folder_in_use_is_unavailable(tmp_path: Path) -> None:
    store = QdrantServerStore.local(tmp_path, dimension=DIM)
    try:
        with pytest.raises(StoreUnavailable, match="cannot open local Qdrant"):
            QdrantServerStore.local(tmp_path, dimension=DIM)
    finally:
        store.close()
