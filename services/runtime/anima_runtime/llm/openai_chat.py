"""A ChatModel over an OpenAI-compatible /chat/completions endpoint (OpenAI, vLLM, Ollama,
OpenRouter, LM Studio, ...)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, Final, NoReturn

from pydantic import SecretStr

from anima_core.openai_http import OpenAICompatibleEndpoint
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ModelRequest

logger = logging.getLogger(__name__)

_PATH: Final = "/chat/completions"


class OpenAIChatModel:
    """Asks POST {base_url}/chat/completions: the request's `system` as the system message
    (when it is not blank), the rendered prompt as the user message. A request without
    `system` (None; the runtime always fills it in, redacted) falls back to the
    character's `system`.

    Retries transient failures (see anima_core.openai_http) within `deadline_s` for the
    whole answer; a stream is retried only until it starts. Answers are checked strictly:
    a refusal, an empty or non-text answer, or one cut by a content filter is ModelFailed;
    one cut at max_tokens is returned (and logged). `temperature` replaces the request's,
    `max_tokens` caps it. The API key never appears in a log line or an error message.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: SecretStr | str | None = None,
        provider: str = "openai",
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        deadline_s: float = 120.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if not model:
            raise ValueError("model must name the chat model")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self._endpoint = OpenAICompatibleEndpoint(
            base_url=base_url,
            api_key=api_key,
            error=ModelFailed,
            purpose="chat",
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            deadline_s=deadline_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        self._where = self._endpoint.where(_PATH)
        self._model = model
        self._name = f"{provider}:{model}@{self._endpoint.host}"
        self._temperature = temperature
        self._max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"OpenAIChatModel(url={self._where!r}, model={self._model!r})"

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, request: ModelRequest) -> str:
        self._check_open()
        body = self._body(request, stream=False)
        return self._text_of(await self._endpoint.post_json(_PATH, body), body["max_tokens"])

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        self._check_open()
        body = self._body(request, stream=True)
        said_something = False
        async with aclosing(self._endpoint.stream_sse(_PATH, body)) as events:
            async for event in events:
                piece = self._piece_of(event, body["max_tokens"])
                if piece:
                    said_something = said_something or bool(piece.strip())
                    yield piece
        if not said_something:
            self._fail("an empty answer")

    async def aclose(self) -> None:
        await self._endpoint.aclose()

    def _check_open(self) -> None:
        if self._endpoint.is_closed:
            raise ModelFailed(f"the chat model {self._name} is closed")

    def _body(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        messages = []
        system = request.system
        if system is None:  # not from the runtime, which redacts and fills it in
            system = request.state.character.system
        if system.strip():
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": request.prompt})
        max_tokens = request.max_tokens
        if self._max_tokens is not None:
            max_tokens = min(max_tokens, self._max_tokens)
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": request.temperature if self._temperature is None else self._temperature,
            "max_tokens": max_tokens,
        }
        if stream:
            body["stream"] = True
        # Sizes only: prompts are private and may be large.
        logger.debug(
            "asking %s for %s (%d prompt chars, stream=%s)",
            self._name,
            request.purpose,
            len(request.prompt),
            stream,
        )
        return body

    def _text_of(self, answer: Any, max_tokens: int) -> str:
        """The text of a whole (non-streamed) answer, checked."""
        if not isinstance(answer, dict):
            self._fail("JSON that is not an object")
        self._check_no_error(answer)
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices:
            self._fail("JSON without a non-empty `choices` list")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            self._fail("a choice without a `message` object")
        self._check_no_refusal(message)
        content = message.get("content")
        self._check_finish(choice.get("finish_reason"), max_tokens)
        if content is None:
            self._fail("no text (`content` is null; tool calls are not asked for)")
        if not isinstance(content, str):
            self._fail(f"`content` that is not a string but {_json_type(content)}")
        if not content.strip():
            self._fail("an empty answer")
        return content

    def _piece_of(self, event: Any, max_tokens: int) -> str:
        """The text piece of one streamed chunk, checked ("" for chunks without text)."""
        if not isinstance(event, dict):
            self._fail("a stream event that is not a JSON object")
        self._check_no_error(event)
        choices = event.get("choices")
        if not isinstance(choices, list):
            self._fail("a stream event without a `choices` list")
        if not choices:  # e.g. a closing chunk that carries only usage
            return ""
        choice = choices[0]
        delta = choice.get("delta", {}) if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            self._fail("a stream choice without a `delta` object")
        self._check_no_refusal(delta)
        self._check_finish(choice.get("finish_reason"), max_tokens)
        content = delta.get("content")
        if content is None:  # the opening chunk names the role only
            return ""
        if not isinstance(content, str):
            self._fail(f"a stream `content` that is not a string but {_json_type(content)}")
        return content

    def _check_no_error(self, answer: dict[str, Any]) -> None:
        error = answer.get("error")
        if error:
            detail = error.get("message", error) if isinstance(error, dict) else error
            self._fail(f"an error: {self._endpoint.excerpt(str(detail))}")

    def _check_no_refusal(self, message: dict[str, Any]) -> None:
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            self._fail(f"a refusal: {self._endpoint.excerpt(refusal)}")

    def _check_finish(self, reason: Any, max_tokens: int) -> None:
        if reason == "content_filter":
            self._fail("an answer its content filter stopped")
        if reason == "length":
            # Usable (the runtime parses what it can), but worth knowing about.
            logger.warning(
                "%s stopped at max_tokens (%d): the answer is cut short", self._name, max_tokens
            )

    def _fail(self, what: str) -> NoReturn:
        raise ModelFailed(f"{self._where} answered {what}")


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else "something else")
