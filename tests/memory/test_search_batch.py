"""SearchMemoriesBatch end to end over gRPC: several searches in one call answer
exactly what each would alone, within their own filters and agent; a bad search
is named by its index; the batch size is bounded; text queries share one model
call and the store searches run in one go: inline on the embedded engine (which
holds the GIL through every call, so a worker thread would free nothing), in one
worker-thread hop on a store that lets the GIL go."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import grpc
import numpy as np
import pytest

from anima.memory.v1 import memory_pb2 as pb
from anima.memory.v1 import memory_pb2_grpc as pb_grpc
from anima_core.auth import bearer_metadata
from anima_memory.store.base import VectorStore
from anima_memory_api.client import MemoryClient
from anima_memory_api.errors import InvalidMemoryRequest, MemoryRpcError
from anima_memory_api.types import DIMENSION, MemoryFilter, ScoredMemory, SearchQuery
from tests.memory.conftest import AGENT, OTHER_AGENT, TOKENS, Served, draft

FACTS = MemoryFilter(agent_id=AGENT, table="facts")
MESSAGES = MemoryFilter(agent_id=AGENT, table="messages")
TEXTS = [
    ("facts", "user-1", "Sam lives in Lisbon and works as a nurse."),
    ("facts", "user-2", "Bob plays chess every Sunday."),
    ("facts", "user-1", "Sam has a dog named Rex."),
    ("messages", "user-1", "Does anyone want to play chess this weekend?"),
    ("messages", "user-2", "I moved to Lisbon last month."),
    ("messages", "user-1", "My dog loves the beach."),
]


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


async def expect_invalid(call: Any) -> str:
    with pytest.raises(InvalidMemoryRequest) as caught:
        await call
    assert caught.value.reason == "INVALID_ARGUMENT"
    return caught.value.message


def found(results: Sequence[ScoredMemory]) -> list[tuple[str, float]]:
    return [(s.memory.id, round(s.score, 5)) for s in results]


async def stored(client: MemoryClient) -> None:
    await client.create([draft(text, table=t, entity_id=e) for t, e, text in TEXTS])


async def test_results_equal_the_searches_one_by_one(client: MemoryClient) -> None:
    await stored(client)
    vector = (await client.embed(["Where does Sam live?"]))[0]
    searches = [
        SearchQuery(FACTS, "Where does Sam live?", limit=2),
        SearchQuery(MESSAGES, vector, limit=3, min_score=0.1),  # a vector, as an array
        SearchQuery(MemoryFilter(agent_id=AGENT, entity_id="user-1", table="facts"), unit(3)),
        SearchQuery(MemoryFilter(agent_id=AGENT), "chess", limit=4, with_vectors=True),
        SearchQuery(FACTS, "Where does Sam live?", min_score=0.99),  # finds nothing
    ]
    batch = await client.search_many(searches)
    alone = [
        await client.search(
            s.where, s.query, limit=s.limit, min_score=s.min_score, with_vectors=s.with_vectors
        )
        for s in searches
    ]
    assert [found(r) for r in batch] == [found(r) for r in alone]
    assert [len(r) for r in batch] == [2, 3, 2, 4, 0]
    assert batch[0][0].memory.text == TEXTS[0][2]
    assert {s.memory.entity_id for s in batch[2]} == {"user-1"}
    assert all(s.memory.vector.shape == (DIMENSION,) for s in batch[3])
    assert all(s.memory.vector.size == 0 for r in batch[:3] for s in r)


async def test_each_search_sees_only_its_own_agent_and_filter(client: MemoryClient) -> None:
    (mine,) = await client.create([draft("mine", vector=unit(1))])
    (theirs,) = await client.create([draft("theirs", agent_id=OTHER_AGENT, vector=unit(1))])
    ours, others, narrow = await client.search_many(
        [
            SearchQuery(MemoryFilter(agent_id=AGENT), unit(1)),
            SearchQuery(MemoryFilter(agent_id=OTHER_AGENT), unit(1)),
            SearchQuery(MemoryFilter(agent_id=AGENT, room_id="room-2"), unit(1)),
        ]
    )
    assert [s.memory.id for s in ours] == [mine.id]
    assert [s.memory.id for s in others] == [theirs.id]
    assert narrow == []


async def test_a_bad_search_is_named_by_its_index_and_nothing_runs(
    served: Served, client: MemoryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = served.running.service
    calls: list[str] = []

    async def embed(texts: Sequence[str]) -> Any:
        calls.append("embed")
        return await embed_before(texts)

    embed_before = service.embedder.embed
    monkeypatch.setattr(service.embedder, "embed", embed)
    good = SearchQuery(FACTS, "fine")
    cases = [
        (SearchQuery(MemoryFilter(agent_id=AGENT, table="x"), unit(1)), "searches[1].filter.table"),
        (SearchQuery(MemoryFilter(agent_id="Bad Agent"), unit(1)), "searches[1].filter.agent_id"),
        (SearchQuery(FACTS, [1.0, 2.0]), "searches[1].vector has 2 dimensions"),
        (SearchQuery(FACTS, " "), "searches[1].text is empty"),
        (SearchQuery(FACTS, unit(1), limit=5000), "searches[1].limit must be 0..1000"),
        (SearchQuery(FACTS, unit(1), min_score=2.0), "searches[1].min_score must be within"),
    ]
    for bad, needle in cases:
        assert needle in await expect_invalid(client.search_many([good, bad]))
    assert calls == []  # checked before anything is embedded or searched

    credentials = grpc.ssl_channel_credentials(root_certificates=served.running.certificate_pem)
    options = [("grpc.ssl_target_name_override", "anima-memory.local")]
    metadata = bearer_metadata(TOKENS["runtime"])
    async with grpc.aio.secure_channel(served.address, credentials, options=options) as channel:
        stub = pb_grpc.MemoryServiceStub(channel)
        everyone = pb.MemoryFilter(agent_id=AGENT)
        no_query = pb.SearchMemoriesBatchRequest(
            searches=[
                pb.SearchMemoriesRequest(filter=everyone, text="x"),
                pb.SearchMemoriesRequest(filter=everyone),
            ]
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SearchMemoriesBatch(no_query, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "searches[1].query is required" in (caught.value.details() or "")
        empty = await stub.SearchMemoriesBatch(pb.SearchMemoriesBatchRequest(), metadata=metadata)
        assert list(empty.results) == []


async def test_the_number_of_searches_is_bounded(client: MemoryClient) -> None:
    await stored(client)
    most = await client.search_many([SearchQuery(FACTS, unit(i), limit=1) for i in range(16)])
    assert [len(r) for r in most] == [1] * 16
    details = await expect_invalid(
        client.search_many([SearchQuery(FACTS, unit(i)) for i in range(17)])
    )
    assert "17 searches in one batch; at most 16" in details
    assert await client.search_many([]) == []


class _Threads:
    """The store, noting the thread of each search."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store
        self.holds_gil = store.holds_gil
        self.threads: list[int] = []

    def search(self, *args: Any, **kwargs: Any) -> list[ScoredMemory]:
        self.threads.append(threading.get_ident())
        return self._store.search(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize("holds_gil", [True, False], ids=["inline", "worker-thread"])
async def test_text_and_vector_queries_mix_with_one_model_call_and_one_store_call(
    served: Served, client: MemoryClient, monkeypatch: pytest.MonkeyPatch, holds_gil: bool
) -> None:
    await stored(client)
    service = served.running.service
    embedded: list[list[str]] = []

    async def embed(texts: Sequence[str]) -> Any:
        embedded.append(list(texts))
        return await embed_before(texts)

    embed_before = service.embedder.embed
    monkeypatch.setattr(service.embedder, "embed", embed)
    store = _Threads(service.store)
    store.holds_gil = holds_gil
    monkeypatch.setattr(service, "store", store)

    chess, lisbon = "Who plays chess?", "Who lives in Lisbon?"
    results = await client.search_many(
        [
            SearchQuery(FACTS, chess, limit=1),
            SearchQuery(MESSAGES, unit(5), limit=1),
            SearchQuery(MESSAGES, lisbon, limit=1),
            SearchQuery(FACTS, lisbon, limit=1),
        ]
    )
    assert embedded == [[chess, lisbon]]  # once, each distinct text once
    assert len(store.threads) == 4 and len(set(store.threads)) == 1
    on_loop = store.threads[0] == threading.get_ident()
    assert on_loop is holds_gil
    assert [r[0].memory.text for r in (results[0], results[2], results[3])] == [
        TEXTS[1][2],
        TEXTS[4][2],
        TEXTS[0][2],
    ]


async def test_only_the_runtime_and_admin_may_search(served: Served) -> None:
    async with served.client("dasync") as dasync:
        with pytest.raises(MemoryRpcError) as caught:
            await dasync.search_many([SearchQuery(FACTS, unit(1))])
        assert caught.value.code == "PERMISSION_DENIED"
    async with served.client("admin") as admin:
        assert await admin.search_many([SearchQuery(FACTS, unit(1))]) == [[]]
