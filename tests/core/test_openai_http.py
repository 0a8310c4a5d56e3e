"""anima_core.openai_http: the retrying POST and the server-sent-events reader, against a
real HTTP server on loopback (the OpenAI-compatible fake the runtime's tests use)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from anima_core.event_stream import LineSplitter
from anima_core.openai_http import OpenAICompatibleEndpoint, retry_after_s
from anima_verify.errors import AnimaError, ErrorKind
from tests.runtime.fake_openai import (
    API_KEY,
    Events,
    FakeOpenAI,
    Json,
    Raw,
    Status,
    Trickle,
    embedding_of,
)

PATH = "/chat/completions"


class Boom(AnimaError):
    """The caller's own error class."""

    kind = ErrorKind.UNAVAILABLE


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start() as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


def make_endpoint(base_url: str, **overrides: Any) -> OpenAICompatibleEndpoint:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "api_key": API_KEY,
        "error": Boom,
        "purpose": "test",
        "timeout_s": 0.5,
        "max_retries": 2,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
    }
    settings.update(overrides)
    return OpenAICompatibleEndpoint(**settings)


@pytest.fixture
async def endpoint(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatibleEndpoint]:
    e = make_endpoint(fake.base_url)
    yield e
    await e.aclose()


async def events(endpoint: OpenAICompatibleEndpoint) -> list[Any]:
    return [event async for event in endpoint.stream_sse(PATH, {"stream": True})]


async def failure(endpoint: OpenAICompatibleEndpoint, *, stream: bool = False) -> str:
    """The caller's error for one call; its message never carries the key."""
    with pytest.raises(Boom) as caught:
        if stream:
            await events(endpoint)
        else:
            await endpoint.post_json(PATH, {})
    assert API_KEY not in str(caught.value)
    return str(caught.value)


async def test_post_json_answers_the_json_and_sends_the_key(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint
) -> None:
    fake.script(Json({"anything": [1, 2]}))
    assert await endpoint.post_json(PATH, {"model": "m"}) == {"anything": [1, 2]}
    (seen,) = fake.requests
    assert (seen.path, seen.authorization, seen.body) == (
        "/v1/chat/completions",
        f"Bearer {API_KEY}",
        {"model": "m"},
    )


async def test_failures_raise_the_caller_s_error_class(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(Status(500, "{authorization}"), Status(400, "no such model; got {authorization}"))
    with caplog.at_level(logging.WARNING):
        message = await failure(endpoint)
    assert message == f"{fake.base_url}{PATH} refused the request: HTTP 400"
    assert f"test request to {fake.base_url}{PATH} failed (HTTP 500: Bearer ***)" in caplog.text
    assert "the server said: no such model; got Bearer ***" in caplog.text
    assert API_KEY not in caplog.text


async def test_ssrf_read_back_server_words_stay_out_of_errors_unless_quoting_is_on(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: every error quoted 200 characters of what the server sent, so a caller
    who chose the URL (a character's endpoint) could read internal pages back. Now only
    an endpoint made with quote_bodies_in_errors (the operator's embedder, by default the
    purpose "embedding") quotes; otherwise the words go to this service's log."""
    page = "<html>secret internal page {authorization}</html>"
    behaviours: tuple[Status | Raw, ...] = (
        Status(404, page),
        Status(503, page),
        Raw(page, content_type="text/html"),
        Raw(f"data: {{}}\n\n{page}\n\n", content_type="text/event-stream"),
        Raw(f"data: {page}\n\n", content_type="text/event-stream"),
        Raw(f"event: error\ndata: {page}\n\n", content_type="text/event-stream"),
    )
    for quoting, settings in (
        (False, {}),
        (False, {"purpose": "chat"}),
        (True, {"purpose": "embedding"}),
        (True, {"quote_bodies_in_errors": True}),
        (False, {"purpose": "embedding", "quote_bodies_in_errors": False}),
    ):
        e = make_endpoint(fake.base_url, max_retries=0, **settings)
        messages = []
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING):
                for n, behaviour in enumerate(behaviours):
                    fake.script(behaviour)
                    messages.append(await failure(e, stream=n > 0))
        finally:
            await e.aclose()
        for message in messages:
            assert ("secret internal page" in message) is quoting, (settings, message)
        assert messages[0].startswith(f"{fake.base_url}{PATH} refused the request: HTTP 404")
        assert messages[1].startswith(f"{fake.base_url}{PATH} failed after 1 attempts: HTTP 503")
        if not quoting:
            assert caplog.text.count("(the server said: <html>secret internal page") == len(
                behaviours
            )
            assert "secret internal page Bearer ***" in caplog.text  # the key cut out
        assert API_KEY not in caplog.text


async def test_messages_name_the_url_without_credentials_or_query(fake: FakeOpenAI) -> None:
    e = make_endpoint(fake.base_url + "?api-version=2024-10-21")
    try:
        assert e.where(PATH) == f"{fake.base_url}{PATH}"
        assert await e.post_json(PATH, {}) is not None
    finally:
        await e.aclose()
    assert fake.requests[0].query == "api-version=2024-10-21"  # sent, not shown
    with_user = make_endpoint("https://user:pw@example.com:8443/v1?key=secret")
    assert with_user.where(PATH) == "https://example.com:8443/v1/chat/completions"
    assert with_user.host == "example.com:8443"
    assert "pw" not in repr(with_user)
    ipv6 = make_endpoint("http://[::1]/v1")
    assert ipv6.host == "[::1]"
    await with_user.aclose()
    await ipv6.aclose()


async def test_excerpts_cut_out_the_key_then_shorten() -> None:
    e = make_endpoint("http://127.0.0.1:1/v1")
    await e.aclose()
    assert e.excerpt(f"bad\n  key {API_KEY} here") == "bad key *** here"
    long = e.excerpt("x" * 190 + API_KEY)
    assert len(long) == 193
    assert long.endswith("***")
    assert "sk-" not in e.excerpt("y" * 199 + API_KEY)


async def test_a_stream_s_events_up_to_done(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint
) -> None:
    body = (
        ": keep-alive\r\n\r\n"
        'event: message\r\nid: 1\r\nretry: 100\r\ndata: {"a": 1}\r\n\r\n'
        'data: {"b":\ndata: 2}\n\n'  # two data lines are one event, joined by a line feed
        'data:{"c": 3}\n\n'
        "data: [DONE]"  # the last event without its blank line
    )
    fake.script(Raw(body, content_type="text/event-stream; charset=utf-8"))
    assert await events(endpoint) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert fake.requests[0].body == {"stream": True}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('data: {"a": 1}\n\n', "ended the event stream before [DONE]"),
        ("", "ended the event stream before [DONE]"),
        ('data: {"a": 1}\n\n<html>\n\ndata: [DONE]\n\n', "not server-sent events: <html>"),
        ("comment: not a field\n\n", "not server-sent events"),
        ("data: {oops\n\ndata: [DONE]\n\n", "not JSON: {oops"),
        ('event: error\ndata: {"message": "overloaded"}\n\n', "an error event: {"),
    ],
)
async def test_a_broken_stream_fails_without_retrying(
    fake: FakeOpenAI, body: str, words: str
) -> None:
    e = make_endpoint(fake.base_url, quote_bodies_in_errors=True)
    fake.script(Raw(body, content_type="text/event-stream"))
    try:
        assert words in await failure(e, stream=True)
    finally:
        await e.aclose()
    assert len(fake.requests) == 1


async def test_events_before_a_break_are_delivered(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint
) -> None:
    fake.script(Events(('{"n": 1}', '{"n": 2}'), done=False))
    got: list[Any] = []
    with pytest.raises(Boom, match=r"before \[DONE\]"):
        async for event in endpoint.stream_sse(PATH, {}):
            got.append(event)
    assert got == [{"n": 1}, {"n": 2}]


async def test_a_stream_is_retried_until_it_starts(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint
) -> None:
    fake.script(Status(503), Status(429, retry_after="0.01"), Events(('{"ok": true}',)))
    assert await events(endpoint) == [{"ok": True}]
    assert len(fake.requests) == 3


async def test_a_stream_answered_as_json_is_refused(fake: FakeOpenAI) -> None:
    e = make_endpoint(fake.base_url, quote_bodies_in_errors=True)
    fake.script(Json({"error": f"echo {API_KEY}"}))
    try:
        message = await failure(e, stream=True)
    finally:
        await e.aclose()
    assert "answered application/json where an event stream was expected" in message
    assert "echo ***" in message


@pytest.mark.parametrize("stream", [False, True])
async def test_the_deadline_bounds_a_trickle(fake: FakeOpenAI, stream: bool) -> None:
    e = make_endpoint(fake.base_url, deadline_s=0.3)
    fake.script(Trickle(0.05))
    start = time.monotonic()
    try:
        message = await failure(e, stream=stream)
    finally:
        await e.aclose()
    assert message == f"{fake.base_url}{PATH} did not answer within the 0.3s deadline"
    assert time.monotonic() - start < 1.5


async def test_the_deadline_never_cancels_the_consumer(fake: FakeOpenAI) -> None:
    """The deadline bounds the waits on the server, never a `yield`: a consumer that awaits
    something slow between events is not cancelled, and what the server already sent is
    still delivered."""
    e = make_endpoint(fake.base_url, deadline_s=0.2)
    fake.script(Events(('{"n": 1}', '{"n": 2}')))
    seen = []
    try:
        async for event in e.stream_sse(PATH, {}):
            seen.append(event)
            await asyncio.sleep(0.3)
    finally:
        await e.aclose()
    assert seen == [{"n": 1}, {"n": 2}]


def test_settings_are_checked() -> None:
    bad: dict[str, Any]
    for bad in (
        {"max_retries": -1},
        {"timeout_s": 0},
        {"connect_timeout_s": -1},
        {"deadline_s": 0},
        {"backoff_s": -0.1},
        {"base_url": "ftp://example.com"},
        {"base_url": "/v1"},
        {"api_key": f"{API_KEY} "},
        {"api_key": f"{API_KEY}\r\nX-Evil: 1"},
        {"max_response_bytes": 0},
    ):
        with pytest.raises(ValueError) as caught:
            make_endpoint(str(bad.pop("base_url", "http://127.0.0.1:1/v1")), **bad)
        assert API_KEY not in str(caught.value)


def test_retry_after_reads_seconds_and_dates() -> None:
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after_s("2") == 2.0
    assert retry_after_s("0.5") == 0.5
    assert 25 < (retry_after_s(soon) or 0) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    for useless in (None, "", "0", "-3", "soon", "nan", "inf", past):
        assert retry_after_s(useless) is None, useless


# ---------------------------------------------------------------- hostile answers


@pytest.fixture
def eth_recursion_limit() -> Iterator[None]:
    """The recursion limit of a process that imports eth_account (py_ecc raises it to
    100000): there a deep JSON document overflows the C stack instead of raising."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    yield
    sys.setrecursionlimit(before)


@pytest.mark.usefixtures("eth_recursion_limit")
async def test_regression_deep_json_answers_are_refused_not_a_crash(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint
) -> None:
    """Regression: the answer's JSON went to json.loads as it came, and 200000 nested
    brackets from the model endpoint killed the runtime process (segfault)."""
    deep = "[" * 200_000 + "]" * 200_000
    fake.script(Raw(deep))
    assert "nested more than 64 levels deep" in await failure(endpoint)
    fake.script(Raw(f"data: {deep}\n\n", content_type="text/event-stream"))
    assert "an event nested more than 64 levels deep" in await failure(endpoint, stream=True)
    assert len(fake.requests) == 2  # refused, not retried
    fake.script(Raw("[" * 64 + "]" * 64))  # the limit itself is fine
    assert await endpoint.post_json(PATH, {}) is not None


@contextlib.asynccontextmanager
async def endless(status: int, content_type: str, piece: bytes) -> AsyncIterator[str]:
    """A server on loopback whose chunked answer never ends: `piece` again and again until
    the client hangs up. Yields its base URL."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                f"HTTP/1.1 {status} Endless\r\nContent-Type: {content_type}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
            while True:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("status", "content_type", "stream", "words"),
    [
        (200, "application/json", False, "answered with more than 1048576 bytes"),
        (200, "text/event-stream", True, "answered with more than 1048576 bytes"),
        (200, "text/html", True, "where an event stream was expected"),
        (404, "text/html", False, "refused the request: HTTP 404"),
        (503, "text/html", True, "failed after 1 attempts: HTTP 503"),
    ],
)
async def test_regression_endless_answers_are_cut_at_max_response_bytes(
    status: int, content_type: str, stream: bool, words: str
) -> None:
    """Regression: answers (error bodies too) were read whole into memory, however large.
    A 2xx answer or event stream is refused past max_response_bytes; of an error body only
    the start an excerpt needs is read. Without a cap none of these calls would end."""
    async with endless(status, content_type, b"x" * 65536) as url:
        e = make_endpoint(url, max_retries=0, deadline_s=None, max_response_bytes=1024 * 1024)
        try:
            message = await asyncio.wait_for(failure(e, stream=stream), timeout=20)
        finally:
            await e.aclose()
    assert words in message


async def test_regression_a_declared_oversized_answer_is_refused_unread(
    fake: FakeOpenAI,
) -> None:
    e = make_endpoint(fake.base_url, max_response_bytes=32)
    fake.script(Json({"x": "y" * 2048}), Trickle(0.001))
    try:
        assert "answered with more than 32 bytes" in await failure(e)  # by Content-Length
        assert "answered with more than 32 bytes" in await failure(e)  # chunked, counted
    finally:
        await e.aclose()
    assert len(fake.requests) == 2  # neither was retried


def test_event_stream_lines_split_across_pieces() -> None:
    """The stream is read in pieces of any size: a line, or the CR LF that ends it, may
    be split between two."""
    splitter = LineSplitter()
    got: list[str] = []
    for piece in ('data: {"a"', ": 1}\r", "\n\r", "\ndata: x\r", "", "y\n", "\n", "tail"):
        got += splitter.feed(piece)
    assert got == ['data: {"a": 1}', "", "data: x", "y", ""]
    assert splitter.rest() == "tail"


async def test_the_default_answer_limit_is_8_mib_but_embeddings_may_be_larger(
    fake: FakeOpenAI,
) -> None:
    """Embeddings are batch_size * dimension numbers (3072 dimensions, 128 texts: about
    8.6 MB of JSON), so the embedder's purpose gets a larger bound."""
    big = {"data": "y" * (9 * 1024 * 1024)}
    for purpose, fits in (("chat", False), ("embedding", True)):
        e = make_endpoint(fake.base_url, purpose=purpose)
        fake.script(Json(big))
        try:
            if fits:
                assert await e.post_json(PATH, {}) == big
            else:
                assert f"answered with more than {8 * 1024 * 1024} bytes" in await failure(e)
        finally:
            await e.aclose()


async def test_concurrent_calls_over_the_pools_each_get_their_own_answer(
    fake: FakeOpenAI,
) -> None:
    """Calls are spread over several connection pools (httpcore's pool scan is quadratic
    in its connections); each still gets its own answer, with the key sent, and closing
    the endpoint closes every pool."""
    endpoint = make_endpoint(fake.base_url)
    texts = [f"text {n}" for n in range(40)]
    try:
        answers = await asyncio.gather(
            *(endpoint.post_json("/embeddings", {"input": text}) for text in texts)
        )
        for text, answer in zip(texts, answers, strict=True):
            assert answer["data"][0]["embedding"] == embedding_of(text, fake.embedding_dimension)
        assert len(fake.requests) == len(texts)
        assert {seen.authorization for seen in fake.requests} == {f"Bearer {API_KEY}"}
        assert not endpoint.is_closed
    finally:
        await endpoint.aclose()
    assert endpoint.is_closed
    with pytest.raises(RuntimeError):  # a closed endpoint sends nothing more
        await endpoint.post_json("/embeddings", {"input": "late"})
