"""Concurrent embed calls share /embeddings requests (anima_memory.embeddings.coalescing),
against the same real loopback server as the embedder's own tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from anima_memory.embeddings.coalescing import CoalescingEmbedder
from anima_memory_api.errors import EmbeddingFailed
from tests.memory.test_embeddings_openai import (  # noqa: F401 (fixtures)
    Script,
    Server,
    make_embedder,
    script,
    server,
    unit,
)


@pytest.fixture
async def shared(server: Server) -> AsyncIterator[CoalescingEmbedder]:  # noqa: F811
    e = CoalescingEmbedder(make_embedder(server.base_url, batch_size=64), max_texts=5)
    yield e
    await e.aclose()


def rows_of(texts: list[str]) -> np.ndarray[Any, Any]:
    return np.vstack([unit(t) for t in texts])


async def test_calls_made_together_share_one_request_and_get_their_own_rows(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    calls = [["a0", "a1"], ["b0"], ["c0", "c1"]]
    got = await asyncio.gather(*(shared.embed(texts) for texts in calls))
    assert [body["input"] for _, body in script.seen] == [["a0", "a1", "b0", "c0", "c1"]]
    for texts, rows in zip(calls, got, strict=True):
        assert rows.dtype == np.float32 and rows.flags.c_contiguous
        np.testing.assert_allclose(rows, rows_of(texts), atol=1e-6)


async def test_a_lone_call_goes_at_once_and_later_ones_wait_for_it(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    first = asyncio.create_task(shared.embed(["first"]))
    while not script.seen:  # noqa: ASYNC110 (the server's thread records the request)
        await asyncio.sleep(0.001)
    later = await asyncio.gather(shared.embed(["x"]), shared.embed(["y", "z"]))
    np.testing.assert_allclose(await first, rows_of(["first"]), atol=1e-6)
    assert [body["input"] for _, body in script.seen] == [["first"], ["x", "y", "z"]]
    np.testing.assert_allclose(later[1], rows_of(["y", "z"]), atol=1e-6)


async def test_a_request_holds_at_most_max_texts(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    calls = [["a0", "a1", "a2"], ["b0", "b1", "b2"], ["c0", "c1"], ["d0"] * 7]
    got = await asyncio.gather(*(shared.embed(texts) for texts in calls))
    # A call larger than max_texts goes alone (the embedder splits it by its batch_size).
    assert [body["input"] for _, body in script.seen] == [
        ["a0", "a1", "a2"],
        ["b0", "b1", "b2", "c0", "c1"],
        ["d0"] * 7,
    ]
    for texts, rows in zip(calls, got, strict=True):
        np.testing.assert_allclose(rows, rows_of(texts), atol=1e-6)


async def test_a_failed_shared_request_is_sent_again_per_caller(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    script.plan[:] = ["wrong-count"]  # the shared answer is bad; the callers' own are fine
    got = await asyncio.gather(shared.embed(["p", "q"]), shared.embed(["r"]))
    np.testing.assert_allclose(got[0], rows_of(["p", "q"]), atol=1e-6)
    np.testing.assert_allclose(got[1], rows_of(["r"]), atol=1e-6)
    inputs = [body["input"] for _, body in script.seen]
    assert inputs[0] == ["p", "q", "r"] and sorted(inputs[1:]) == [["p", "q"], ["r"]]


async def test_each_caller_gets_the_error_its_own_request_gives(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    script.plan[:] = ["wrong-count", "no-data", "no-data"]
    got = await asyncio.gather(
        shared.embed(["p", "q"]), shared.embed(["r"]), return_exceptions=True
    )
    assert all(isinstance(e, EmbeddingFailed) for e in got)
    assert all("without a `data` list" in str(e) for e in got)
    # Afterwards the embedder serves again.
    np.testing.assert_allclose(await shared.embed(["s"]), rows_of(["s"]), atol=1e-6)


async def test_a_cancelled_caller_is_not_sent(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    first = asyncio.create_task(shared.embed(["first"]))
    await asyncio.sleep(0)
    gone = asyncio.create_task(shared.embed(["gone"]))
    kept = asyncio.create_task(shared.embed(["kept"]))
    await asyncio.sleep(0)
    gone.cancel()
    await first
    np.testing.assert_allclose(await kept, rows_of(["kept"]), atol=1e-6)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert ["gone"] not in [body["input"] for _, body in script.seen]
    assert all("gone" not in body["input"] for _, body in script.seen)


async def test_no_texts_and_the_inner_embedders_names(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    assert (await shared.embed([])).shape == (0, shared.dimension)
    assert script.seen == []
    assert shared.model_name == "test-embedding-model" and shared.dimension == 16
    with pytest.raises(ValueError, match="max_texts"):
        CoalescingEmbedder(make_embedder("http://127.0.0.1:9/v1"), max_texts=0)


async def test_callers_are_not_left_waiting_when_the_sender_stops(
    shared: CoalescingEmbedder,
    script: Script,  # noqa: F811
) -> None:
    never_sent = asyncio.create_task(shared.embed(["never"]))
    await asyncio.sleep(0)
    assert shared._sender is not None
    shared._sender.cancel()  # before it ran
    with pytest.raises(asyncio.CancelledError):
        await never_sent
    assert script.seen == [] and shared._sender is None
    np.testing.assert_allclose(await shared.embed(["next"]), rows_of(["next"]), atol=1e-6)
