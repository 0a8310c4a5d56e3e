"""A stand-in for an OpenAI-compatible API: a real HTTP server on a loopback port (uvicorn
in a thread of the test's process) that speaks the wire protocol of /v1/chat/completions,
plain and streamed (server-sent events), and /v1/embeddings, checks the bearer key, and
misbehaves on request.

    with FakeOpenAI.start() as fake:                 # fake.base_url ends in /v1
        fake.script(Status(429, retry_after="1"), Answer("hello"))
        fake.respond(lambda seen: '{"text": "hi"}')  # answers to unscripted requests
        ...
        fake.requests[-1].body["messages"]

Each chat request takes the next scripted behaviour (`script`; embeddings have their own
queue, `script_embeddings`) or, with none left, answers `respond`'s text. A request with a
wrong key gets 401 whatever the script says (OpenAI's error body, which quotes the key).
One server can serve many tests: a module-scoped fixture starts it and a function-scoped
one calls `reset()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

API_KEY = "sk-fake-0123456789abcdef-never-show-me"
DEFAULT_TEXT = "Hello from the fake model."
_TICK_S = 0.01


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str  # "/v1/chat/completions" or "/v1/embeddings"
    authorization: str | None
    body: Any
    query: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages

    def content_of(self, role: str) -> str | None:
        """The content of the first message with `role` ("system", "user")."""
        return next((m.get("content") for m in self.messages if m.get("role") == role), None)

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


# What the server does with one request.


@dataclass(frozen=True)
class Answer:
    """A chat answer; streamed in `pieces` (default: word by word) when the request streams."""

    text: str = DEFAULT_TEXT
    finish_reason: str = "stop"
    pieces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Refusal:
    """The model refuses (OpenAI's `refusal` field, content null)."""

    text: str = "I can't help with that."


@dataclass(frozen=True)
class Status:
    """An error status. `{authorization}` in the body becomes the request's Authorization
    header, as a server that echoes headers would write it."""

    code: int
    body: str = ""
    retry_after: str | None = None


@dataclass(frozen=True)
class Json:
    """Any JSON as a 200 answer (a chat answer missing its choices, ...)."""

    value: Any


@dataclass(frozen=True)
class Raw:
    """Exactly these bytes as the answer (garbage, a truncated body, raw event-stream lines)."""

    body: str
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Events:
    """A 200 event stream of these `data` payloads, then `[DONE]` unless `done` is false."""

    data: tuple[str, ...]
    done: bool = True


@dataclass(frozen=True)
class StopEarly:
    """Starts answering `text` and stops: a stream without its `[DONE]`, or a plain answer's
    JSON cut in half."""

    text: str = DEFAULT_TEXT


@dataclass(frozen=True)
class Hang:
    """Sends nothing for `seconds` (or until the server stops), then a 504."""

    seconds: float = 30.0


@dataclass(frozen=True)
class Trickle:
    """A 200 whose body never ends: a byte every `interval_s` (a space in JSON, a comment in
    an event stream), so read timeouts never fire; only a deadline stops it."""

    interval_s: float = 0.05


Behaviour = Answer | Refusal | Status | Json | Raw | Events | StopEarly | Hang | Trickle


def _default_text(seen: Seen) -> str:
    return DEFAULT_TEXT


def embedding_of(text: str, dimension: int) -> list[float]:
    """The server's embedding of a text: deterministic, not unit length."""
    digest = hashlib.sha256(text.encode()).digest()
    while len(digest) < dimension:
        digest += hashlib.sha256(digest).digest()
    return [(b - 127.5) / 10 for b in digest[:dimension]]


@dataclass
class FakeOpenAI:
    base_url: str = ""
    api_key: str | None = API_KEY
    embedding_dimension: int = 8
    requests: list[Seen] = field(default_factory=list)
    _chat: deque[Behaviour] = field(default_factory=deque)
    _embeddings: deque[Behaviour] = field(default_factory=deque)
    _respond: Callable[[Seen], str] = _default_text
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    @contextmanager
    def start(
        cls, *, api_key: str | None = API_KEY, embedding_dimension: int = 8
    ) -> Iterator[FakeOpenAI]:
        """A running server (api_key None: no key checked) until the block ends."""
        fake = cls(api_key=api_key, embedding_dimension=embedding_dimension)
        config = uvicorn.Config(
            fake._app(),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="fake-openai", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        fake.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            yield fake
        finally:
            fake._stopping.set()  # ends hangs and trickles
            server.should_exit = True
            thread.join(timeout=10)

    def script(self, *behaviours: Behaviour) -> None:
        """Queues what the next chat requests get, one behaviour each."""
        with self._lock:
            self._chat.extend(behaviours)

    def script_embeddings(self, *behaviours: Behaviour) -> None:
        """Queues what the next embedding requests get (Answer: the usual embeddings)."""
        with self._lock:
            self._embeddings.extend(behaviours)

    def reset(self) -> None:
        """Forgets the scripts, the responder and the requests seen (one server, many tests)."""
        with self._lock:
            self._chat.clear()
            self._embeddings.clear()
            self.requests.clear()
        self._respond = _default_text

    def respond(self, answer: Callable[[Seen], str]) -> None:
        """How unscripted chat requests are answered: text from the request."""
        self._respond = answer

    @property
    def chat_requests(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.path.endswith("/chat/completions")]

    def _next(self, queue: deque[Behaviour]) -> Behaviour | None:
        with self._lock:
            return queue.popleft() if queue else None

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            seen, refused = await self._receive(request)
            if refused is not None:
                return refused
            behaviour = self._next(self._chat) or Answer(self._respond(seen))
            return await self._chat_answer(behaviour, seen)

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> Response:
            seen, refused = await self._receive(request)
            if refused is not None:
                return refused
            behaviour = self._next(self._embeddings) or Answer()
            if isinstance(behaviour, Answer):
                return self._embeddings_answer(seen)
            return await self._chat_answer(behaviour, seen)

        return app

    async def _receive(self, request: Request) -> tuple[Seen, Response | None]:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        authorization = request.headers.get("authorization")
        seen = Seen(request.url.path, authorization, body, request.url.query)
        with self._lock:
            self.requests.append(seen)
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            given = (authorization or "").removeprefix("Bearer ")
            error = {
                "message": f"Incorrect API key provided: {given}.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return seen, _json({"error": error}, status=401)
        if not isinstance(body, dict):
            return seen, _json({"error": {"message": "the body is not a JSON object"}}, 400)
        return seen, None

    async def _chat_answer(self, behaviour: Behaviour, seen: Seen) -> Response:
        model = seen.body.get("model", "")
        if isinstance(behaviour, Status):
            headers = (
                {} if behaviour.retry_after is None else {"Retry-After": behaviour.retry_after}
            )
            body = behaviour.body.replace("{authorization}", seen.authorization or "")
            return Response(body, status_code=behaviour.code, headers=headers)
        if isinstance(behaviour, Json):
            return _json(behaviour.value)
        if isinstance(behaviour, Raw):
            return Response(
                behaviour.body, status_code=behaviour.status, media_type=behaviour.content_type
            )
        if isinstance(behaviour, Hang):
            await self._sleep(behaviour.seconds)
            return Response("upstream timed out", status_code=504)
        if isinstance(behaviour, Trickle):
            tick = b": still thinking\n\n" if seen.stream else b" "
            media = "text/event-stream" if seen.stream else "application/json"
            return StreamingResponse(self._trickle(tick, behaviour.interval_s), media_type=media)
        if isinstance(behaviour, Events):
            events = [*behaviour.data, *(["[DONE]"] if behaviour.done else [])]
            return _event_stream(events)
        if isinstance(behaviour, StopEarly):
            if not seen.stream:
                return Response(json.dumps(_completion(model, behaviour.text))[:30])
            chunks = _chunks(model, _pieces(behaviour.text), "stop")
            return _event_stream(chunks[: max(1, len(chunks) // 2)])
        if isinstance(behaviour, Refusal):
            if seen.stream:
                delta = {"role": "assistant", "content": None, "refusal": behaviour.text}
                return _event_stream([_chunk(model, delta, "stop"), "[DONE]"])
            return _json(_completion(model, None, refusal=behaviour.text))
        assert isinstance(behaviour, Answer), behaviour
        if seen.stream:
            pieces = behaviour.pieces or _pieces(behaviour.text)
            return _event_stream([*_chunks(model, pieces, behaviour.finish_reason), "[DONE]"])
        return _json(_completion(model, behaviour.text, finish_reason=behaviour.finish_reason))

    def _embeddings_answer(self, seen: Seen) -> Response:
        inputs = seen.body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": embedding_of(text, self.embedding_dimension),
            }
            for i, text in enumerate(texts)
        ]
        return _json({"object": "list", "data": data, "model": seen.body.get("model", "")})

    async def _sleep(self, seconds: float) -> None:
        """Sleeps `seconds`, or less if the server stops (the flag is set from its thread)."""
        for _ in range(max(1, math.ceil(seconds / _TICK_S))):
            if self._stopping.is_set():
                return
            await asyncio.sleep(_TICK_S)

    async def _trickle(self, tick: bytes, interval_s: float) -> AsyncIterator[bytes]:
        while not self._stopping.is_set():
            yield tick
            await self._sleep(interval_s)


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status_code=status, media_type="application/json")


def _event_stream(data: list[str]) -> Response:
    body = "".join(f"data: {item}\n\n" for item in data)
    return Response(body, media_type="text/event-stream")


def _pieces(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\s*\S+|\s+", text)) or ("",)


def _completion(
    model: str, text: str | None, *, finish_reason: str = "stop", refusal: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
    )


def _chunks(model: str, pieces: tuple[str, ...], finish_reason: str) -> list[str]:
    """OpenAI's shape: the role first, then one chunk per piece, then the finish reason."""
    return [
        _chunk(model, {"role": "assistant", "content": ""}, None),
        *(_chunk(model, {"content": piece}, None) for piece in pieces),
        _chunk(model, {}, finish_reason),
    ]
