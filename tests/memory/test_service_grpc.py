"""The memory service end to end over gRPC: real store, real model, TLS and tokens."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import grpc.aio
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from anima.memory.v1 import memory_pb2 as pb
from anima.memory.v1 import memory_pb2_grpc as pb_grpc
from anima_core.auth import bearer_metadata
from anima_core.config import ConfigError, load_config
from anima_memory import app
from anima_memory.config import MemoryConfig
from anima_memory.embeddings.base import Embedder
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.convert import draft_to_pb
from anima_memory_api.errors import (
    InvalidMemoryRequest,
    MemoryExists,
    MemoryRpcError,
    MemoryUnreachable,
)
from anima_memory_api.types import DIMENSION, Memory, MemoryFilter
from anima_verify.errors import AnimaError
from tests.memory.conftest import (
    AGENT,
    OTHER_AGENT,
    TOKENS,
    Served,
    draft,
    lend,
    memory_config,
    serve,
)

ROOM = MemoryFilter(agent_id=AGENT, room_id="room-1")


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


async def expect_status(call: object, code: grpc.StatusCode) -> str:
    """The details of a raw stub call that fails with `code`."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details() or ""


async def expect_error(call: object, error: type[AnimaError], code: str = "") -> str:
    """The message of a client call that raises `error` (for MemoryRpcError, with `code`)."""
    with pytest.raises(error) as caught:
        await call  # type: ignore[misc]
    if code:
        assert isinstance(caught.value, MemoryRpcError) and caught.value.code == code
    return caught.value.message


# ---------------------------------------------------------------- create and read


async def test_text_is_embedded_and_found_by_meaning(client: MemoryClient) -> None:
    facts = [
        "The user's favourite colour is green.",
        "The user lives in Lisbon and works as a nurse.",
        "Bitcoin's block time is about ten minutes.",
    ]
    results = await client.create([draft(t, table="facts") for t in facts])
    assert [r.created for r in results] == [True, True, True]

    hits = await client.search(
        MemoryFilter(agent_id=AGENT, table="facts"), "Which city does the user live in?", limit=3
    )
    assert hits[0].memory.id == results[1].id
    assert hits[0].memory.text == facts[1]
    assert hits[0].score > hits[1].score >= hits[2].score


async def test_round_trip_keeps_every_field(client: MemoryClient) -> None:
    memory_id = str(uuid.uuid4())
    fields = {"action": "NONE", "source": "discord", "inReplyTo": "abc", "attachments": [{"n": 1}]}
    (result,) = await client.create(
        [
            draft(
                "hello there",
                id=memory_id,
                fields=fields,
                created_at_ms=1_700_000_000_123,
                entity_id="user-42",
                room_id="room-9",
            )
        ]
    )
    assert result.id == memory_id
    (got,), missing = await client.get(AGENT, [memory_id], with_vectors=True)
    assert missing == []
    assert (got.entity_id, got.room_id, got.table, got.text) == (
        "user-42",
        "room-9",
        "messages",
        "hello there",
    )
    assert got.created_at_ms == 1_700_000_000_123
    assert got.fields == {**fields, "attachments": [{"n": 1.0}]}
    assert got.vector.shape == (DIMENSION,)
    assert abs(float(np.linalg.norm(got.vector)) - 1.0) < 1e-5
    (plain,), _ = await client.get(AGENT, [memory_id])
    assert plain.vector.size == 0  # vectors only when asked for


async def test_given_embedding_is_used_and_normalised(client: MemoryClient) -> None:
    raw = np.asarray(unit(7), dtype=np.float32) * 3.0
    (result,) = await client.create([draft("anything", vector=raw.tolist())])
    hits = await client.search(ROOM, unit(7), limit=1, with_vectors=True)
    assert hits[0].memory.id == result.id
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(hits[0].memory.vector, unit(7), atol=1e-6)


async def test_recent_is_newest_first_within_the_room(client: MemoryClient) -> None:
    await client.create(
        [draft(f"message {i}", created_at_ms=1_000 + i, vector=unit(i)) for i in range(30)]
        + [draft("elsewhere", room_id="room-2", created_at_ms=99_999, vector=unit(99))]
    )
    recent = await client.recent(ROOM, limit=5)
    assert [m.text for m in recent] == [f"message {i}" for i in (29, 28, 27, 26, 25)]
    window = MemoryFilter(
        agent_id=AGENT, room_id="room-1", created_from_ms=1_010, created_until_ms=1_020
    )
    assert await client.count(window) == 10  # from inclusive, until exclusive
    assert [m.created_at_ms for m in await client.recent(window, limit=100)] == list(
        range(1_019, 1_009, -1)
    )


async def test_filters_combine_and_agents_never_see_each_other(client: MemoryClient) -> None:
    await client.create(
        [
            draft("a", vector=unit(1)),
            draft("b", vector=unit(2), table="facts"),
            draft("c", vector=unit(3), entity_id="user-2"),
            draft("d", vector=unit(4), room_id="room-2"),
        ]
    )
    (theirs,) = await client.create([draft("secret", agent_id=OTHER_AGENT, vector=unit(1))])

    assert await client.count(MemoryFilter(agent_id=AGENT)) == 4
    assert await client.count(MemoryFilter(agent_id=AGENT, table="messages")) == 3
    assert await client.count(MemoryFilter(agent_id=AGENT, entity_id="user-2")) == 1
    narrow = MemoryFilter(agent_id=AGENT, room_id="room-1", table="messages", entity_id="user-1")
    assert [h.memory.text for h in await client.search(narrow, unit(1), limit=10)] == ["a"]

    hits = await client.search(MemoryFilter(agent_id=AGENT), unit(1), limit=10)
    assert "secret" not in {h.memory.text for h in hits}
    found, missing = await client.get(AGENT, [theirs.id])
    assert (found, missing) == ([], [theirs.id])
    assert not await client.delete(AGENT, theirs.id)
    assert await client.count(MemoryFilter(agent_id=OTHER_AGENT)) == 1


async def test_deletes_by_id_room_and_agent(client: MemoryClient) -> None:
    results = await client.create(
        [draft(f"r1 {i}", vector=unit(i)) for i in range(3)]
        + [draft(f"r2 {i}", vector=unit(10 + i), room_id="room-2") for i in range(2)]
    )
    await client.create([draft("keep", agent_id=OTHER_AGENT, vector=unit(50))])
    assert await client.delete(AGENT, results[0].id)
    assert not await client.delete(AGENT, results[0].id)
    assert await client.delete_room(AGENT, "room-1") == 2
    assert await client.count(MemoryFilter(agent_id=AGENT)) == 2
    assert await client.delete_agent(AGENT) == 2
    assert await client.count(MemoryFilter(agent_id=AGENT)) == 0
    assert await client.count(MemoryFilter(agent_id=OTHER_AGENT)) == 1


async def test_embed_matches_what_search_by_text_uses(client: MemoryClient) -> None:
    (vector,) = await client.embed(["the quick brown fox"])
    assert vector.shape == (DIMENSION,)
    await client.create([draft("the quick brown fox")])
    (hit,) = await client.search(ROOM, vector.tolist(), limit=1)
    assert hit.score == pytest.approx(1.0, abs=1e-4)


# ---------------------------------------------------------------- uniqueness


async def test_unique_memory_is_not_stored_twice(client: MemoryClient) -> None:
    (first,) = await client.create([draft("The user's name is Alice.", table="facts", unique=True)])
    (again,) = await client.create([draft("The user's name is Alice.", table="facts", unique=True)])
    assert first.created and not again.created
    assert again.duplicate_of == first.id and again.similarity >= 0.95
    (other_room,) = await client.create(
        [draft("The user's name is Alice.", table="facts", unique=True, room_id="room-2")]
    )
    assert other_room.created
    (not_unique,) = await client.create([draft("The user's name is Alice.", table="facts")])
    assert not_unique.created
    (different,) = await client.create(
        [draft("The user owns a red bicycle.", table="facts", unique=True)]
    )
    assert different.created
    assert await client.count(MemoryFilter(agent_id=AGENT, room_id="room-1", table="facts")) == 3


async def test_near_duplicates_within_one_batch(client: MemoryClient) -> None:
    results = await client.create(
        [draft("Alice likes tea.", unique=True), draft("Alice likes tea.", unique=True)]
    )
    assert results[0].created and not results[1].created
    assert results[1].duplicate_of == results[0].id


async def test_concurrent_unique_writers_store_one(served: Served) -> None:
    clients = [served.client() for _ in range(4)]
    try:
        outcomes = await asyncio.gather(
            *(
                c.create([draft("The meeting is on Friday at noon.", unique=True)])
                for c in clients
                for _ in range(3)
            )
        )
    finally:
        for c in clients:
            await c.close()
    created = [r for (r,) in outcomes if r.created]
    assert len(created) == 1
    assert {r.duplicate_of for (r,) in outcomes if not r.created} == {created[0].id}


async def test_concurrent_writers_lose_nothing(served: Served) -> None:
    async with served.client() as c:
        batches = [
            [draft(f"w{w} m{i}", vector=unit(w * 100 + i)) for i in range(20)] for w in range(8)
        ]
        await asyncio.gather(*(c.create(b) for b in batches))
        assert await c.count(MemoryFilter(agent_id=AGENT)) == 160
        reads = await asyncio.gather(*(c.search(ROOM, unit(w * 100), limit=1) for w in range(8)))
        assert [r[0].memory.text for r in reads] == [f"w{w} m0" for w in range(8)]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"table": "diary"}, "memories[1].table: unknown table 'diary'"),
        ({"vector": [0.1] * 10}, "has 10 dimensions"),
        ({"vector": [0.0] * DIMENSION}, "zero vector"),
        ({"vector": [float("nan")] * DIMENSION}, "NaN"),
        ({"text": "   "}, "memories[1].content.text is empty"),
        ({"text": "x" * 70_000}, "70000 bytes"),
        ({"id": "not-a-uuid"}, "memories[1].id must be a UUID"),
        ({"room_id": "has space"}, "memories[1].room_id must be"),
        ({"entity_id": ""}, "memories[1].entity_id must be"),
        ({"agent_id": OTHER_AGENT}, "one agent per batch"),
    ],
)
async def test_a_bad_memory_fails_the_whole_batch(
    client: MemoryClient, fields: dict[str, object], needle: str
) -> None:
    details = await expect_error(
        client.create([draft("fine", vector=unit(1)), draft(**{"text": "bad", **fields})]),
        InvalidMemoryRequest,
    )
    assert needle in details
    assert await client.count(MemoryFilter(agent_id=AGENT)) == 0


async def test_bad_queries_are_invalid_argument(client: MemoryClient) -> None:
    cases = [
        (client.search(MemoryFilter(agent_id="Bad Agent"), unit(1)), "agent_id must be"),
        (client.search(MemoryFilter(agent_id=AGENT, table="x"), unit(1)), "filter.table"),
        (client.search(ROOM, [1.0, 2.0]), "query vector has 2 dimensions"),
        (client.search(ROOM, ""), "query text is empty"),
        (client.search(ROOM, unit(1), limit=5000), "limit must be"),
        (client.search(ROOM, unit(1), min_score=2.0), "min_score"),
        (
            client.count(MemoryFilter(agent_id=AGENT, created_from_ms=5, created_until_ms=5)),
            "must be before",
        ),
        (client.get(AGENT, ["nope"]), "ids[0] must be a UUID"),
        (client.embed(["ok", ""]), "texts[1] is empty"),
    ]
    for call, needle in cases:
        assert needle in await expect_error(call, InvalidMemoryRequest)


async def test_existing_id_is_refused_whoever_owns_it(client: MemoryClient) -> None:
    (mine,) = await client.create([draft("mine", vector=unit(1))])
    await expect_error(
        client.create([draft("theirs", agent_id=OTHER_AGENT, id=mine.id, vector=unit(2))]),
        MemoryExists,
    )
    (kept,), _ = await client.get(AGENT, [mine.id])
    assert kept.text == "mine"


async def test_raw_protocol_errors(served: Served) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=served.running.certificate_pem)
    options = [("grpc.ssl_target_name_override", "anima-memory.local")]
    async with grpc.aio.secure_channel(served.address, credentials, options=options) as channel:
        metadata = bearer_metadata(TOKENS["runtime"])
        garbage = channel.unary_unary(
            "/anima.memory.v1.MemoryService/CreateMemories",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        details = await expect_status(
            garbage(b"\xff\xff\xff\xff", metadata=metadata), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert "malformed request" in details

        stub = pb_grpc.MemoryServiceStub(channel)
        await expect_status(
            stub.SearchMemories(
                pb.SearchMemoriesRequest(filter=pb.MemoryFilter(agent_id=AGENT)), metadata=metadata
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        await expect_status(
            stub.DeleteMemories(pb.DeleteMemoriesRequest(agent_id=AGENT), metadata=metadata),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        huge = pb.CreateMemoriesRequest(
            memories=[pb.NewMemory(content=pb.Content(text="x" * (33 * 1024 * 1024)))]
        )
        await expect_status(
            stub.CreateMemories(huge, metadata=metadata), grpc.StatusCode.RESOURCE_EXHAUSTED
        )


async def test_errors_carry_error_info_for_any_grpc_client(served: Served) -> None:
    """The rich status a client in another language reads: ErrorInfo with the reason
    listed in memory.proto and the service's domain."""

    def reason_of(error: grpc.aio.AioRpcError) -> tuple[str, str]:
        status = rpc_status.from_call(error)
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        return info.reason, info.domain

    credentials = grpc.ssl_channel_credentials(root_certificates=served.running.certificate_pem)
    options = [("grpc.ssl_target_name_override", "anima-memory.local")]
    async with grpc.aio.secure_channel(served.address, credentials, options=options) as channel:
        metadata = bearer_metadata(TOKENS["runtime"])
        garbage = channel.unary_unary(
            "/anima.memory.v1.MemoryService/CountMemories",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await garbage(b"\xff\xff\xff\xff", metadata=metadata)
        assert reason_of(caught.value) == ("MALFORMED_REQUEST", "memory.anima")
        stub = pb_grpc.MemoryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.DeleteMemories(pb.DeleteMemoriesRequest(agent_id=AGENT), metadata=metadata)
        assert reason_of(caught.value) == ("INVALID_ARGUMENT", "memory.anima")
        memory = draft_to_pb(draft("mine", vector=unit(1), id=str(uuid.uuid4())))
        await stub.CreateMemories(pb.CreateMemoriesRequest(memories=[memory]), metadata=metadata)
        again = pb.CreateMemoriesRequest(memories=[memory])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateMemories(again, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert reason_of(caught.value) == ("MEMORY_EXISTS", "memory.anima")


# ---------------------------------------------------------------- access


async def test_tokens_and_roles(served: Served) -> None:
    anonymous = MemoryClient.connect(
        served.address, "wrong-token", certificate_pem=served.running.certificate_pem
    )
    async with anonymous:
        await expect_error(anonymous.count(ROOM), MemoryRpcError, "UNAUTHENTICATED")
    async with served.client("runtime") as runtime:
        await runtime.create([draft("x", vector=unit(1))])
        await expect_error(_drain(runtime.export(AGENT)), MemoryRpcError, "PERMISSION_DENIED")
    async with served.client("dasync") as dasync:
        await expect_error(dasync.count(ROOM), MemoryRpcError, "PERMISSION_DENIED")
        chunks = [c async for c in dasync.export(AGENT)]
        assert chunks[-1].trailer.count == 1


async def test_a_client_pinned_to_another_certificate_is_refused(served: Served) -> None:
    from anima_core.tls import new_channel_identity

    stranger = new_channel_identity("anima-memory.local").cert_pem
    async with MemoryClient.connect(
        served.address, TOKENS["runtime"], certificate_pem=stranger, timeout_s=2
    ) as c:
        await expect_error(c.count(ROOM), MemoryUnreachable, "UNAVAILABLE")


async def _drain(chunks: object) -> None:
    async for _ in chunks:  # type: ignore[attr-defined]
        pass


# ---------------------------------------------------------------- lifecycle


async def test_not_ready_until_store_and_model_are_loaded(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = threading.Event()

    def slow_model(config: object) -> Embedder:
        loaded.wait(timeout=30)
        return lend(minilm)  # stopping the server must not close the session's model

    monkeypatch.setattr(app, "load_embedder", slow_model)
    config = memory_config(tmp_path, insecure_plaintext=True, listen=f"127.0.0.1:{_free_port()}")
    starting = asyncio.ensure_future(app.start_memory(config))
    address = config.listen
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):  # wait for the listener, not for readiness
            try:
                status = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        stub = pb_grpc.MemoryServiceStub(channel)
        details = await expect_status(
            stub.CountMemories(
                pb.CountMemoriesRequest(filter=pb.MemoryFilter(agent_id=AGENT)),
                metadata=bearer_metadata(TOKENS["runtime"]),
            ),
            grpc.StatusCode.UNAVAILABLE,
        )
        assert "still loading" in details
        loaded.set()
        running = await starting
        try:
            status = await health.Check(health_pb2.HealthCheckRequest())
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            await running.stop(grace=0.2)


async def test_memories_survive_a_restart(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> None:
    first = await serve(memory_config(tmp_path), minilm)
    async with first.client() as c:
        results = await c.create([draft(f"m{i}", vector=unit(i)) for i in range(50)])
    await first.running.stop(grace=0.2)
    second = await serve(memory_config(tmp_path), minilm)
    try:
        async with second.client() as c:
            assert await c.count(MemoryFilter(agent_id=AGENT)) == 50
            (hit,) = await c.search(ROOM, unit(7), limit=1)
            assert hit.memory.id == results[7].id
    finally:
        await second.running.stop(grace=0.2)


def test_production_refuses_plaintext_and_missing_callers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="insecure_plaintext"):
        memory_config(tmp_path, production=True, insecure_plaintext=True).check_startable()
    with pytest.raises(ConfigError, match="no callers"):
        memory_config(tmp_path, callers={}).check_startable()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_index_builds_follow_writes(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> None:
    served = await serve(memory_config(tmp_path, embedded={"index_after_points": 100}), minilm)
    store, maintainer = served.running.service.store, served.running.maintainer
    assert maintainer is not None
    try:
        async with served.client() as c:
            await c.create([draft(f"m{i}", vector=unit(i)) for i in range(60)])
            assert (maintainer.builds, store.stats().indexed_points) == (0, 0)
            await c.create([draft(f"n{i}", vector=unit(100 + i)) for i in range(60)])
            await maintainer.wait()  # builds run in the background
            assert maintainer.builds == 1
            assert store.stats().indexed_points == 120
            (hit,) = await c.search(ROOM, unit(105), limit=1)
            assert hit.memory.text == "n5"
    finally:
        await served.running.stop(grace=0.2)


# ---------------------------------------------------------------- review findings


async def test_nan_in_fields_and_out_of_range_times_are_invalid(served: Served) -> None:
    async with served.client() as c:
        bad = draft_to_pb(draft("x", vector=unit(1)))
        bad.content.fields.update({"score": float("nan")})
        stub = pb_grpc.MemoryServiceStub(c._channel)
        details = await expect_status(
            stub.CreateMemories(
                pb.CreateMemoriesRequest(memories=[bad]),
                metadata=bearer_metadata(TOKENS["runtime"]),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert "content.fields" in details
        for created in (-1, 2**53):
            details = await expect_error(
                c.create([draft("x", vector=unit(1), created_at_ms=created)]),
                InvalidMemoryRequest,
            )
            assert "created_at_ms must be Unix milliseconds" in details
        window = MemoryFilter(agent_id=AGENT, created_until_ms=2**60)
        await expect_error(c.count(window), InvalidMemoryRequest)
        assert await c.count(MemoryFilter(agent_id=AGENT)) == 0


async def test_threshold_one_still_catches_exact_duplicates(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder
) -> None:
    served = await serve(memory_config(tmp_path, duplicate_threshold=1.0), minilm)
    try:
        async with served.client() as c:
            for seed in range(20):
                (first,) = await c.create([draft(f"a{seed}", vector=unit(seed), unique=True)])
                (again,) = await c.create([draft(f"b{seed}", vector=unit(seed), unique=True)])
                assert first.created and again.duplicate_of == first.id
    finally:
        await served.running.stop(grace=0.2)


async def test_role_matrix(served: Served) -> None:
    async def chunks() -> AsyncIterator[pb.ExportChunk]:
        yield pb.ExportChunk()

    async with served.client("runtime") as runtime, served.client("dasync") as dasync:
        await expect_error(runtime.import_(chunks()), MemoryRpcError, "PERMISSION_DENIED")
        for call in (
            dasync.create([draft("x", vector=unit(1))]),
            dasync.delete_agent(AGENT),
            dasync.search(ROOM, unit(1)),
            dasync.embed(["x"]),
        ):
            await expect_error(call, MemoryRpcError, "PERMISSION_DENIED")


def test_caller_roles_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        load_config_from({"callers": {"runtim": "a" * 64}}, tmp_path)
    with pytest.raises(ConfigError, match="share one token"):
        load_config_from({"callers": {"runtime": "a" * 64, "admin": "a" * 64}}, tmp_path)
    config = memory_config(
        tmp_path,
        production=True,
        store="qdrant",
        qdrant={"url": "http://qdrant.internal:6333", "api_key": "k"},
    )
    with pytest.raises(ConfigError, match="plain http"):
        config.check_startable()


def load_config_from(values: dict[str, object], tmp_path: Path) -> MemoryConfig:
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(values))
    return load_config(MemoryConfig, env_prefix="ANIMA_MEMORY_TEST", file=path, environ={})


async def test_a_cancelled_write_keeps_its_locks_until_it_lands(served: Served) -> None:
    service = served.running.service
    store = service.store
    real_upsert = store.upsert
    entered = threading.Event()

    def slow_upsert(memories: Sequence[Memory]) -> None:
        entered.set()
        time.sleep(0.3)
        real_upsert(memories)

    store.upsert = slow_upsert  # type: ignore[method-assign]
    taken = str(uuid.uuid4())
    first = asyncio.ensure_future(service.create([draft("first", id=taken, vector=unit(1))]))
    await asyncio.to_thread(entered.wait, 5)
    first.cancel()
    store.upsert = real_upsert  # type: ignore[method-assign]
    with pytest.raises(MemoryExists):  # the id check waited for the cancelled write
        await service.create([draft("squat", agent_id=OTHER_AGENT, id=taken, vector=unit(2))])
    with pytest.raises(asyncio.CancelledError):
        await first
    (kept,), _ = await service.get(AGENT, [taken])
    assert kept.text == "first"


async def test_export_chunks_stay_under_the_message_limit(
    tmp_path: Path, minilm: MiniLmOnnxEmbedder
) -> None:
    limit = 1024 * 1024
    served = await serve(memory_config(tmp_path, max_message_bytes=limit), minilm)
    big = {f"k{i}": float(i) for i in range(4000)}  # ~57 KB of JSON, far more as protobuf
    try:
        async with served.client() as c:
            for n in range(4):
                await c.create(
                    [draft(f"m{n}.{i}", vector=unit(n * 10 + i), fields=big) for i in range(5)]
                )
        async with served.client("dasync") as c:
            chunks = [chunk async for chunk in c.export(AGENT)]
        assert chunks[-1].trailer.count == 20
        assert len(chunks) > 3  # one page of 20 was cut into several batches
        assert max(chunk.ByteSize() for chunk in chunks) < limit
    finally:
        await served.running.stop(grace=0.2)
