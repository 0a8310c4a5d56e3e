"""anima_core.openai_http: the retrying POST and the server-sent-events reader, against a
real HTTP server on loopback (the OpenAI-compatible fake the runtime's tests use)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from anima_core.errors import AnimaError, ErrorKind
from anima_core.openai_http import OpenAICompatibleEndpoint, retry_after_s
from tests.runtime.fake_openai import API_KEY, Events, FakeOpenAI, Json, Raw, Status, Trickle

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
    assert message == (
        f"{fake.base_url}{PATH} refused the request: HTTP 400: no such model; got Bearer ***"
    )
    assert f"test request to {fake.base_url}{PATH} failed (HTTP 500: Bearer ***)" in caplog.text
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
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint, body: str, words: str
) -> None:
    fake.script(Raw(body, content_type="text/event-stream"))
    assert words in await failure(endpoint, stream=True)
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


async def test_a_stream_answered_as_json_is_refused(
    fake: FakeOpenAI, endpoint: OpenAICompatibleEndpoint
) -> None:
    fake.script(Json({"error": f"echo {API_KEY}"}))
    message = await failure(endpoint, stream=True)
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
