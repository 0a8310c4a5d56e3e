"""The OpenAI-compatible chat model against a real HTTP server on loopback (FakeOpenAI)
that speaks /v1/chat/completions, plain and streamed, and misbehaves on request."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from anima_memory.embeddings.openai import OpenAIEmbedder
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ChatModel, ModelRequest, Purpose
from anima_runtime.llm.openai_chat import OpenAIChatModel
from anima_runtime.plugins.types import Content, Message
from tests.runtime.fake_openai import (
    API_KEY,
    Answer,
    Events,
    FakeOpenAI,
    Hang,
    Json,
    Raw,
    Refusal,
    Status,
    StopEarly,
    Trickle,
    embedding_of,
)

MODEL = "fake-gpt"
SYSTEM = "You are Ada, a careful assistant."
PROMPT = "# Task\nAnswer the user in JSON."


def request_for(
    *, system: str = SYSTEM, temperature: float = 0.7, max_tokens: int = 1024
) -> ModelRequest:
    message = Message(
        id="m-1",
        agent_id="ada-agent",
        entity_id="user-1",
        room_id="room-1",
        content=Content(text="hello"),
        created_at_ms=0,
    )
    state = State(
        character=Character(name="Ada", system=system),
        message=message,
        message_vector=np.zeros(384, np.float32),
    )
    return ModelRequest(
        purpose=Purpose.RESPONSE,
        prompt=PROMPT,
        state=state,
        temperature=temperature,
        max_tokens=max_tokens,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start() as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


def make_model(fake: FakeOpenAI, **overrides: Any) -> OpenAIChatModel:
    settings: dict[str, Any] = {
        "base_url": fake.base_url,
        "model": MODEL,
        "api_key": API_KEY,
        "timeout_s": 0.5,
        "connect_timeout_s": 0.5,
        "deadline_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.01,
        "max_backoff_s": 0.3,
    }
    settings.update(overrides)
    return OpenAIChatModel(**settings)


@pytest.fixture
async def model(fake: FakeOpenAI) -> AsyncIterator[OpenAIChatModel]:
    m = make_model(fake)
    yield m
    await m.aclose()


async def streamed(model: OpenAIChatModel, request: ModelRequest | None = None) -> list[str]:
    return [piece async for piece in model.stream(request or request_for())]


async def failure(model: OpenAIChatModel, *, stream: bool = False, key: str = API_KEY) -> str:
    """The ModelFailed message for asking `model`; it never contains the key."""
    with pytest.raises(ModelFailed) as caught:
        if stream:
            await streamed(model)
        else:
            await model.complete(request_for())
    message = str(caught.value)
    assert key not in message
    assert key not in repr(caught.value.__cause__)
    assert key not in repr(caught.value.__context__)
    return message


def test_is_a_chat_model_named_by_model_and_host(fake: FakeOpenAI) -> None:
    m: ChatModel = make_model(fake, provider="vllm")
    port = fake.base_url.split(":")[2].split("/")[0]
    assert m.name == f"vllm:{MODEL}@127.0.0.1:{port}"
    assert API_KEY not in repr(m)
    assert API_KEY not in m.name


async def test_complete_sends_the_openai_request_and_answers_the_text(
    fake: FakeOpenAI, model: OpenAIChatModel
) -> None:
    fake.script(Answer('{"text": "hi there"}'))
    assert await model.complete(request_for(temperature=0.2, max_tokens=77)) == (
        '{"text": "hi there"}'
    )
    (seen,) = fake.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.authorization == f"Bearer {API_KEY}"
    assert seen.body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ],
        "temperature": 0.2,
        "max_tokens": 77,
    }


async def test_a_character_without_a_system_prompt_sends_only_the_prompt(
    fake: FakeOpenAI, model: OpenAIChatModel
) -> None:
    await model.complete(request_for(system="  "))
    assert fake.requests[0].messages == [{"role": "user", "content": PROMPT}]


async def test_the_requests_system_text_replaces_the_characters(
    fake: FakeOpenAI, model: OpenAIChatModel
) -> None:
    """The runtime sends the character's system text redacted in `request.system`: the
    model must send that one, not the character's own (which holds the secret)."""
    leaky = request_for(system="You are Ada. Your key is sk-PLANTED-0123.")
    safe = replace(leaky, system="You are Ada. Your key is [redacted].")

    await model.complete(safe)
    await streamed(model, safe)
    await model.complete(replace(leaky, system=""))  # given, and blank: none sent
    await model.complete(request_for())  # not given: the character's

    assert [s.content_of("system") for s in fake.requests[:2]] == [safe.system] * 2
    assert all("sk-PLANTED" not in json.dumps(s.body) for s in fake.requests)
    assert fake.requests[2].messages == [{"role": "user", "content": PROMPT}]
    assert fake.requests[3].content_of("system") == SYSTEM


async def test_configured_temperature_replaces_and_max_tokens_caps(fake: FakeOpenAI) -> None:
    m = make_model(fake, temperature=0.0, max_tokens=100)
    try:
        await m.complete(request_for(temperature=0.9, max_tokens=1024))
        await m.complete(request_for(temperature=0.9, max_tokens=50))
    finally:
        await m.aclose()
    assert [(s.body["temperature"], s.body["max_tokens"]) for s in fake.requests] == [
        (0.0, 100),
        (0.0, 50),
    ]


async def test_no_key_sends_no_authorization() -> None:
    with FakeOpenAI.start(api_key=None) as fake:
        m = make_model(fake, api_key=None)
        try:
            await m.complete(request_for())
        finally:
            await m.aclose()
        assert fake.requests[0].authorization is None


async def test_stream_yields_the_answer_in_pieces(fake: FakeOpenAI, model: OpenAIChatModel) -> None:
    text = '{"text": "streaming works", "actions": ["REPLY"]}'
    fake.script(Answer(text))
    pieces = await streamed(model)
    assert "".join(pieces) == text
    assert len(pieces) > 2
    (seen,) = fake.requests
    assert seen.stream
    assert seen.body["model"] == MODEL
    assert seen.content_of("system") == SYSTEM
    assert seen.content_of("user") == PROMPT
    assert {"temperature", "max_tokens"} <= seen.body.keys()


async def test_a_usage_only_chunk_and_a_role_only_chunk_are_skipped(
    fake: FakeOpenAI, model: OpenAIChatModel
) -> None:
    fake.script(
        Events(
            (
                json.dumps({"choices": [{"delta": {"role": "assistant"}}]}),
                json.dumps({"choices": [{"delta": {"content": "one"}, "finish_reason": None}]}),
                json.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}]}),
                json.dumps({"choices": [], "usage": {"total_tokens": 3}}),
            )
        )
    )
    assert await streamed(model) == ["one"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [429, 503])
async def test_busy_answers_are_retried_as_retry_after_asks(
    fake: FakeOpenAI, model: OpenAIChatModel, status: int, stream: bool
) -> None:
    fake.script(Status(status, "busy", retry_after="1"), Answer("at last"))
    start = time.monotonic()
    text = "".join(await streamed(model)) if stream else await model.complete(request_for())
    assert text == "at last"
    # Retry-After: 1, capped at max_backoff_s (0.3); the backoff alone would be 0.01.
    assert time.monotonic() - start >= 0.3
    assert len(fake.requests) == 2


async def test_retries_are_bounded_and_logged_without_the_key(
    fake: FakeOpenAI, model: OpenAIChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(*[Status(500, "boom, key was {authorization}")] * 5)
    with caplog.at_level(logging.WARNING):
        message = await failure(model)
    assert message.endswith("failed after 3 attempts: HTTP 500")
    assert len(fake.requests) == 3
    assert "retry 1/2" in caplog.text
    # The server's words reach this service's log only, the key cut out.
    assert "boom, key was Bearer ***" in caplog.text
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [400, 401, 404])
async def test_client_errors_are_not_retried_nor_echo_the_key(
    fake: FakeOpenAI,
    model: OpenAIChatModel,
    status: int,
    stream: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.script(Status(status, "invalid request, you sent {authorization}"))
    with caplog.at_level(logging.WARNING):
        message = await failure(model, stream=stream)
    assert message.endswith(f"refused the request: HTTP {status}")
    assert "you sent Bearer ***" in caplog.text  # the server's words, the key cut out
    assert API_KEY not in caplog.text
    assert len(fake.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_ssrf_read_back_error_bodies_stay_out_of_model_failed(
    fake: FakeOpenAI, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: a character could point the model at an internal URL and read the page
    back in the 502 the API returned (and in the agent's public log): ModelFailed quoted
    200 characters of the body. Now the message names the status; the body goes to the
    server log."""
    page = "<html>internal admin: db_password=hunter2</html>"
    m = make_model(fake, max_retries=0)
    fake.script(Status(404, page), Status(500, page), Raw(page, content_type="text/html"))
    try:
        with caplog.at_level(logging.WARNING):
            refused = await failure(m, stream=stream)
            failed = await failure(m, stream=stream)
            wrong_type = await failure(m, stream=True)
    finally:
        await m.aclose()
    assert refused == f"{fake.base_url}/chat/completions refused the request: HTTP 404"
    assert failed == f"{fake.base_url}/chat/completions failed after 1 attempts: HTTP 500"
    assert wrong_type.endswith("answered text/html where an event stream was expected")
    for message in (refused, failed, wrong_type):
        assert "hunter2" not in message
    assert "hunter2" in caplog.text  # the operator still sees what the server said


async def test_a_wrong_key_is_refused_and_not_echoed(fake: FakeOpenAI) -> None:
    wrong = "sk-wrong-key-9876543210"
    m = make_model(fake, api_key=wrong)
    try:
        message = await failure(m, key=wrong)
    finally:
        await m.aclose()
    assert message.endswith("refused the request: HTTP 401")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_trickling_server_hits_the_deadline(fake: FakeOpenAI, stream: bool) -> None:
    # A byte every 50 ms: the 0.5 s read timeout never fires, the 0.4 s deadline does.
    m = make_model(fake, deadline_s=0.4)
    fake.script(Trickle(0.05))
    start = time.monotonic()
    try:
        message = await failure(m, stream=stream)
    finally:
        await m.aclose()
    assert "did not answer within the 0.4s deadline" in message
    assert time.monotonic() - start < 1.5


async def test_the_deadline_covers_retries(fake: FakeOpenAI) -> None:
    m = make_model(fake, deadline_s=0.4, max_backoff_s=10.0)
    fake.script(Status(503, retry_after="5"))
    start = time.monotonic()
    try:
        message = await failure(m)
    finally:
        await m.aclose()
    assert "deadline" in message
    assert time.monotonic() - start < 1.5
    assert len(fake.requests) == 1


async def test_a_silent_server_times_out_after_bounded_retries(
    fake: FakeOpenAI, model: OpenAIChatModel
) -> None:
    fake.script(Hang(5), Hang(5), Hang(5))
    start = time.monotonic()
    message = await failure(model)
    assert "after 3 attempts" in message
    assert "ReadTimeout" in message
    assert time.monotonic() - start < 4
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (Raw("<html>bad gateway</html>"), "not JSON"),
        (Json([1, 2]), "not an object"),
        (Json({"id": "x"}), "`choices`"),
        (Json({"choices": []}), "`choices`"),
        (Json({"choices": [{"text": "legacy"}]}), "`message`"),
        (Json({"choices": [{"message": {"content": 42}}]}), "not a string but a number"),
        (Json({"choices": [{"message": {"content": ["a"]}}]}), "not a string but an array"),
        (Json({"choices": [{"message": {"content": None}}]}), "`content` is null"),
        (Answer("   "), "an empty answer"),
        (Answer("partial", finish_reason="content_filter"), "content filter"),
        (Refusal("I won't do that"), "a refusal: I won't do that"),
        (Json({"error": {"message": "model overloaded"}}), "an error: model overloaded"),
        (StopEarly(), "not JSON"),
    ],
)
async def test_an_unusable_answer_is_refused(
    fake: FakeOpenAI, model: OpenAIChatModel, behaviour: Any, words: str
) -> None:
    fake.script(behaviour)
    message = await failure(model)
    assert words in message
    assert "127.0.0.1" in message  # says which endpoint
    assert len(fake.requests) == 1  # a malformed answer is not retried


def chunk(content: Any) -> str:
    return json.dumps({"choices": [{"delta": {"content": content}, "finish_reason": None}]})


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (Events((chunk("fine"), "not json at all")), "an event that is not JSON"),
        (Raw(": hi\n\n<html>oops</html>\n", content_type="text/event-stream"), "not server-sent"),
        (Events((chunk("fine"), "[1]")), "not a JSON object"),
        (Events((json.dumps({"id": "x"}),)), "`choices`"),
        (Events((chunk(7),)), "not a string but a number"),
        (Events((chunk("fine"), json.dumps({"error": {"message": "overloaded"}}))), "overloaded"),
        (Events((chunk("fine"),), done=False), "before [DONE]"),
        (StopEarly("several words that stop"), "before [DONE]"),
        (Events((chunk(""), chunk(" "))), "an empty answer"),
        (Answer("cut", finish_reason="content_filter"), "content filter"),
        (Refusal("no"), "a refusal: no"),
        (Answer("not streamed", pieces=None), None),
        (Json({"choices": [{"message": {"content": "plain"}}]}), "where an event stream"),
    ],
)
async def test_a_broken_stream_is_refused(
    fake: FakeOpenAI, model: OpenAIChatModel, behaviour: Any, words: str | None
) -> None:
    fake.script(behaviour)
    if words is None:  # the control: the same server streams fine
        assert "".join(await streamed(model)) == "not streamed"
        return
    message = await failure(model, stream=True)
    assert words in message
    assert len(fake.requests) == 1  # nothing is retried once the stream has begun


async def test_pieces_before_a_break_reach_the_caller(
    fake: FakeOpenAI, model: OpenAIChatModel
) -> None:
    fake.script(Events((chunk("first "), chunk("second")), done=False))
    pieces: list[str] = []
    with pytest.raises(ModelFailed, match=r"before \[DONE\]"):
        async for piece in model.stream(request_for()):
            pieces.append(piece)
    assert pieces == ["first ", "second"]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_cut_at_max_tokens_is_kept_and_noted(
    fake: FakeOpenAI, model: OpenAIChatModel, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    fake.script(Answer('{"text": "a long', finish_reason="length"))
    with caplog.at_level(logging.WARNING):
        if stream:
            text = "".join(await streamed(model))
        else:
            text = await model.complete(request_for(max_tokens=5))
    assert text == '{"text": "a long'
    assert "max_tokens" in caplog.text


async def test_prompts_are_not_logged(
    fake: FakeOpenAI, model: OpenAIChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="anima_runtime.llm.openai_chat"):
        await model.complete(request_for())
    assert "asking" in caplog.text
    assert PROMPT not in caplog.text
    assert SYSTEM not in caplog.text


async def test_a_closed_model_refuses(fake: FakeOpenAI) -> None:
    m = make_model(fake)
    await m.aclose()
    assert "closed" in await failure(m)
    assert "closed" in await failure(m, stream=True)


def test_settings_are_checked() -> None:
    for bad in (
        {"model": ""},
        {"max_tokens": 0},
        {"max_retries": -1},
        {"deadline_s": 0},
        {"base_url": "ftp://example.com/v1"},
        {"base_url": "not a url"},
    ):
        settings: dict[str, Any] = {"base_url": "http://127.0.0.1:1/v1", "model": MODEL, **bad}
        with pytest.raises(ValueError) as caught:
            OpenAIChatModel(**settings)
        assert API_KEY not in str(caught.value)


def test_a_key_with_a_line_break_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError) as caught:
        OpenAIChatModel(base_url="http://127.0.0.1:1/v1", model=MODEL, api_key=API_KEY + "\n")
    assert API_KEY not in str(caught.value)


async def test_the_fake_serves_embeddings_to_the_memory_embedder() -> None:
    with FakeOpenAI.start(embedding_dimension=16) as fake:
        fake.script_embeddings(Status(503, retry_after="0"))
        embedder = OpenAIEmbedder(
            base_url=fake.base_url,
            model="fake-embedding",
            api_key=API_KEY,
            dimension=16,
            backoff_s=0.01,
        )
        try:
            got = await embedder.embed(["a memory", "another"])
        finally:
            await embedder.aclose()
    expected = np.array([embedding_of(t, 16) for t in ("a memory", "another")])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [s.path for s in fake.requests] == ["/v1/embeddings"] * 2
    assert fake.requests[-1].body == {"model": "fake-embedding", "input": ["a memory", "another"]}
