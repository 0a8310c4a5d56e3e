"""The OpenAI-compatible embedder against a real HTTP server on loopback that speaks the
/embeddings wire protocol and misbehaves on request: errors, rate limits, hangs, and
answers that are not embeddings."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr

from anima_memory.embeddings.openai import OpenAIEmbedder, _retry_after_s
from anima_memory_api.errors import EmbeddingFailed

API_KEY = "sk-test-0123456789-never-show-me"
MODEL = "test-embedding-model"
DIM = 16
HANG_S = 2.0


def vector_for(text: str) -> list[float]:
    """The server's embedding of a text: deterministic, not unit length."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 127.5) / 10 for b in digest[:DIM]]


def unit(text: str) -> np.ndarray:
    v = np.array(vector_for(text))
    out: np.ndarray = v / np.linalg.norm(v)
    return out


@dataclass
class Script:
    """What the server answers next (one mode per request, then "ok"), and what it saw."""

    plan: list[str] = field(default_factory=list)
    seen: list[tuple[str | None, Any]] = field(default_factory=list)  # (authorization, body)


def answer(mode: str, inputs: list[str], authorization: str | None) -> Response:
    data: list[dict[str, Any]] = [
        {"object": "embedding", "index": i, "embedding": vector_for(t)}
        for i, t in enumerate(inputs)
    ]
    data.reverse()  # order is given by `index`, not by position
    if mode == "500":
        return Response('{"error": {"message": "boom"}}', status_code=500)
    if mode == "429":
        return Response("slow down", status_code=429, headers={"Retry-After": "1"})
    if mode == "401-echo":  # a server that echoes the request's headers in its error
        return Response(f"invalid credentials: {authorization}", status_code=401)
    if mode == "not-json":
        return Response("<html>upstream says hi</html>", media_type="application/json")
    if mode == "no-data":
        data = {"error": "nope"}  # type: ignore[assignment]
    elif mode == "wrong-count":
        data = data[1:]
    elif mode == "wrong-dimension":
        data[0]["embedding"] = data[0]["embedding"][:-1]
    elif mode == "missing-index":
        del data[0]["index"]
    elif mode == "index-twice":
        data[0]["index"] = data[1]["index"]
    elif mode == "index-out-of-range":
        data[0]["index"] = len(inputs)
    elif mode == "bool-index":
        data[-1]["index"] = False
    elif mode == "nan":
        data[0]["embedding"][3] = float("nan")
    elif mode == "infinity":
        data[0]["embedding"][3] = float("inf")
    elif mode == "strings":
        data[0]["embedding"] = [str(x) for x in data[0]["embedding"]]
    elif mode == "nested":
        data[0]["embedding"] = [[x] for x in data[0]["embedding"]]
    elif mode == "zero":
        data[0]["embedding"] = [0.0] * DIM
    else:
        assert mode == "ok", mode
    # json.dumps writes NaN and Infinity as bare words, as a sloppy server would.
    return Response(json.dumps({"object": "list", "data": data}), media_type="application/json")


def make_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        authorization = request.headers.get("authorization")
        script.seen.append((authorization, body))
        mode = script.plan.pop(0) if script.plan else "ok"
        if mode == "hang":
            await asyncio.sleep(HANG_S)
        return answer(mode, body["input"], authorization)

    return app


@dataclass
class Server:
    base_url: str
    script: Script


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One uvicorn server on a loopback port, in its own thread, for the module."""
    script = Script()
    config = uvicorn.Config(
        make_app(script),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(f"http://127.0.0.1:{port}/v1", script)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def script(server: Server) -> Script:
    server.script.plan.clear()
    server.script.seen.clear()
    return server.script


@pytest.fixture
async def embedder(server: Server) -> AsyncIterator[OpenAIEmbedder]:
    e = make_embedder(server.base_url)
    yield e
    await e.aclose()


def make_embedder(base_url: str, **overrides: Any) -> OpenAIEmbedder:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "model": MODEL,
        "api_key": API_KEY,
        "dimension": DIM,
        "timeout_s": 0.3,
        "max_retries": 2,
        "batch_size": 4,
        "backoff_s": 0.01,
        "max_backoff_s": 0.3,
    }
    settings.update(overrides)
    return OpenAIEmbedder(**settings)


async def failure(embedder: OpenAIEmbedder, texts: list[str]) -> str:
    """The EmbeddingFailed message for embedding texts; it must not contain the key."""
    with pytest.raises(EmbeddingFailed) as caught:
        await embedder.embed(texts)
    message = str(caught.value)
    assert API_KEY not in message
    assert API_KEY not in repr(caught.value.__cause__)
    return message


async def test_embeds_in_order_with_the_key_as_bearer(
    embedder: OpenAIEmbedder, script: Script
) -> None:
    texts = [f"memory number {n}" for n in range(10)]
    got = await embedder.embed(texts)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.vstack([unit(t) for t in texts]), atol=1e-6)
    # Batches of at most 4, in order, each with the model and the bearer key.
    assert [body["input"] for _, body in script.seen] == [texts[0:4], texts[4:8], texts[8:]]
    assert {auth for auth, _ in script.seen} == {f"Bearer {API_KEY}"}
    assert {body["model"] for _, body in script.seen} == {MODEL}
    assert API_KEY not in repr(embedder)


async def test_no_texts_makes_no_request(embedder: OpenAIEmbedder, script: Script) -> None:
    got = await embedder.embed([])
    assert got.shape == (0, DIM)
    assert script.seen == []


async def test_a_secret_str_key_and_no_key(server: Server, script: Script) -> None:
    for key, header in [(SecretStr(API_KEY), f"Bearer {API_KEY}"), (None, None)]:
        e = make_embedder(server.base_url, api_key=key)
        try:
            await e.embed(["hello"])
        finally:
            await e.aclose()
        assert script.seen[-1][0] == header


async def test_a_server_error_is_retried(
    embedder: OpenAIEmbedder, script: Script, caplog: pytest.LogCaptureFixture
) -> None:
    script.plan[:] = ["500"]
    with caplog.at_level(logging.WARNING):
        got = await embedder.embed(["retry me"])
    np.testing.assert_allclose(got[0], unit("retry me"), atol=1e-6)
    assert len(script.seen) == 2
    assert "HTTP 500" in caplog.text
    assert API_KEY not in caplog.text


async def test_retries_are_bounded(embedder: OpenAIEmbedder, script: Script) -> None:
    script.plan[:] = ["500"] * 5
    message = await failure(embedder, ["never"])
    assert "after 3 attempts" in message
    assert "HTTP 500" in message
    assert len(script.seen) == 3


async def test_rate_limit_waits_as_retry_after_asks(
    embedder: OpenAIEmbedder, script: Script
) -> None:
    script.plan[:] = ["429"]
    start = time.monotonic()
    await embedder.embed(["patience"])
    # Retry-After: 1, capped at max_backoff_s (0.3); the backoff alone would be 0.01.
    assert time.monotonic() - start >= 0.3
    assert len(script.seen) == 2


async def test_a_hanging_server_times_out_after_bounded_retries(
    embedder: OpenAIEmbedder, script: Script
) -> None:
    script.plan[:] = ["hang"] * 3
    start = time.monotonic()
    message = await failure(embedder, ["anyone there?"])
    assert "after 3 attempts" in message
    assert "Timeout" in message
    assert time.monotonic() - start < HANG_S
    assert len(script.seen) == 3


async def test_nothing_listening_is_a_failure_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = make_embedder(f"http://127.0.0.1:{port}/v1")
    try:
        message = await failure(e, ["hello"])
    finally:
        await e.aclose()
    assert "after 3 attempts" in message
    assert "ConnectError" in message


async def test_a_refused_key_is_not_retried_nor_echoed(
    embedder: OpenAIEmbedder, script: Script
) -> None:
    script.plan[:] = ["401-echo"]
    message = await failure(embedder, ["hello"])
    assert "HTTP 401" in message
    assert "invalid credentials" in message  # the server's words, with the key cut out
    assert len(script.seen) == 1


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("not-json", "not JSON"),
        ("no-data", "`data` list"),
        ("wrong-count", "1 embeddings for 2 inputs"),
        ("wrong-dimension", f"of shape ({DIM - 1},), expected {DIM} numbers"),
        ("missing-index", "`index`"),
        ("index-twice", "twice"),
        ("index-out-of-range", "`index`"),
        ("bool-index", "`index`"),
        ("nan", "NaN"),
        ("infinity", "infinite"),
        ("strings", "not a list of numbers"),
        ("nested", f"of shape ({DIM}, 1), expected {DIM}"),
        ("zero", "all-zero"),
    ],
)
async def test_an_answer_that_is_not_embeddings_is_refused(
    embedder: OpenAIEmbedder, script: Script, mode: str, words: str
) -> None:
    script.plan[:] = [mode]
    message = await failure(embedder, ["first", "second"])
    assert words in message
    assert "127.0.0.1" in message  # says which endpoint
    assert len(script.seen) == 1  # a malformed answer is not retried


async def test_a_closed_embedder_refuses(server: Server) -> None:
    e = make_embedder(server.base_url)
    await e.aclose()
    assert "closed" in await failure(e, ["late"])


def test_settings_are_checked() -> None:
    for bad in ({"dimension": 0}, {"batch_size": 0}, {"max_retries": -1}, {"model": ""}):
        with pytest.raises(ValueError):
            make_embedder("http://127.0.0.1:1/v1", **bad)


def test_retry_after_reads_seconds_and_dates() -> None:
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert _retry_after_s("2") == 2.0
    assert 25 < (_retry_after_s(soon) or 0) <= 31
    for useless in (None, "", "0", "-3", "soon", "nan", "inf"):
        assert _retry_after_s(useless) is None, useless
