"""POSTs to an OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, LiteLLM, ...): one retry
loop for the memory service's embedder and the runtime's chat model.

Transient failures (408/409/429/5xx answers, timeouts, connection errors) are retried with
exponential backoff that honours Retry-After; anything else fails at once. Failures raise
the error class the caller names, so each service keeps its own error family. The API key
is sent as a bearer token and never appears in a log line or an error message: messages
name the endpoint without credentials or query string, and error-body excerpts have the
key cut out in case a server echoes the request's headers.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, cast

import httpx
from pydantic import SecretStr

from anima_core.errors import AnimaError

__all__ = ["OpenAICompatibleEndpoint", "retry_after_s"]

logger = logging.getLogger(__name__)

# Answers worth asking again: the server is busy or broke this once.
_RETRY_STATUSES: Final = frozenset({408, 409, 429}) | frozenset(range(500, 600))
_EXCERPT_CHARS: Final = 200
_DONE: Final = "[DONE]"


class OpenAICompatibleEndpoint:
    """One base URL and key, and the retrying POSTs to paths under it.

    `timeout_s` bounds each network operation (a read, a write), `connect_timeout_s` each
    connection attempt, and `deadline_s` (None: no bound) a whole call from its start, retries
    and backoff included, so a server that trickles bytes forever still times out. A streamed
    answer is retried only until its 2xx status arrives: once the body starts, a failure ends
    the call.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | str | None,
        error: type[AnimaError],
        purpose: str = "request",
        timeout_s: float = 30.0,
        connect_timeout_s: float | None = None,
        deadline_s: float | None = None,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        for label, value in (("timeout_s", timeout_s), ("connect_timeout_s", connect_timeout_s)):
            if value is not None and not value > 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if deadline_s is not None and not deadline_s > 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s}")
        if not backoff_s >= 0 or not max_backoff_s >= 0:
            raise ValueError("backoff_s and max_backoff_s must be 0 or more")
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key or "")
        self._secret = key.get_secret_value()
        if any(c.isspace() or not c.isprintable() for c in self._secret):
            raise ValueError("the API key contains whitespace or control characters")
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        self._base = url
        self._error = error
        self._purpose = purpose
        self._deadline_s = deadline_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s or timeout_s),
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleEndpoint(url={self.where()!r})"

    @property
    def host(self) -> str:
        """The endpoint's host (and port, if the URL names one), for names in logs."""
        host = f"[{self._base.host}]" if ":" in self._base.host else self._base.host
        return host if self._base.port is None else f"{host}:{self._base.port}"

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    def where(self, path: str = "") -> str:
        """The URL of `path` for messages: without credentials or query string."""
        return str(self._url(path).copy_with(userinfo=b"", query=None))

    def excerpt(self, text: str) -> str:
        """A short one-line excerpt of what a server said, with the API key cut out."""
        if self._secret:  # before cutting, so no part of the key survives the cut
            text = text.replace(self._secret, "***")
        return " ".join(text.split())[:_EXCERPT_CHARS]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_json(self, path: str, body: Any) -> Any:
        """The JSON body of a 2xx answer to POST `path`, after retries."""
        url = self._url(path)
        async with self._deadline(path, self._deadline_at()):
            response = await self._send(path, lambda: self._client.post(url, json=body))
        try:
            return response.json()
        except ValueError as e:
            raise self._error(
                f"{self.where(path)} answered {response.status_code} with a body that is not JSON"
            ) from e

    async def stream_sse(self, path: str, body: Any) -> AsyncGenerator[Any, None]:
        """The JSON `data` of each server-sent event answering POST `path`, up to `[DONE]`.

        Raises the error class on a line that is not server-sent events, data that is not
        JSON, an `error` event, or a stream that ends before `[DONE]`.
        """
        where = self.where(path)
        deadline = self._deadline_at()
        lines: AsyncIterator[str] | None = None
        request = self._client.build_request(
            "POST", self._url(path), json=body, headers={"Accept": "text/event-stream"}
        )
        async with self._deadline(path, deadline):
            response = await self._send(path, lambda: self._client.send(request, stream=True))
        try:
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "text/event-stream":
                async with self._deadline(path, deadline):
                    await _read_quietly(response)
                raise self._error(
                    f"{where} answered {media_type or 'no content type'} where an event stream "
                    f"was expected{self._detail(response)}"
                )
            events = _EventParser()
            lines = response.aiter_lines()
            while True:
                try:
                    async with self._deadline(path, deadline):
                        line = await anext(lines, None)
                except httpx.RequestError as e:
                    raise self._error(
                        f"{where}: the event stream broke off: {self._problem(e)}"
                    ) from None
                if line is None:
                    if events.pending() == _DONE:  # a last event without its blank line
                        return
                    raise self._error(f"{where} ended the event stream before {_DONE}")
                try:
                    event = events.feed(line)
                except ValueError:
                    raise self._error(
                        f"{where} sent a line that is not server-sent events: {self.excerpt(line)}"
                    ) from None
                if event is None:
                    continue
                name, data = event
                if data == _DONE:
                    return
                if name == "error":
                    raise self._error(f"{where} sent an error event: {self.excerpt(data)}")
                try:
                    parsed = json.loads(data)
                except ValueError:
                    raise self._error(
                        f"{where} sent an event that is not JSON: {self.excerpt(data)}"
                    ) from None
                yield parsed
        finally:
            if lines is not None:
                await cast(AsyncGenerator[str, None], lines).aclose()  # an async generator
            await response.aclose()

    def _url(self, path: str) -> httpx.URL:
        return self._base.copy_with(path=self._base.path.rstrip("/") + path)

    def _deadline_at(self) -> float | None:
        if self._deadline_s is None:
            return None
        return asyncio.get_running_loop().time() + self._deadline_s

    @asynccontextmanager
    async def _deadline(self, path: str, when: float | None) -> AsyncIterator[None]:
        """Bounds the block by the call's deadline; never spans a `yield` of a stream, so it
        only ever cancels this endpoint's own waiting."""
        try:
            async with asyncio.timeout_at(when):
                yield
        except TimeoutError:
            raise self._error(
                f"{self.where(path)} did not answer within the {self._deadline_s:g}s deadline"
            ) from None

    async def _send(
        self, path: str, send: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """The first 2xx answer `send` gets, retrying transient failures."""
        where = self.where(path)
        attempts = self._max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = await send()
            except httpx.RequestError as e:  # connect errors, timeouts, dropped connections
                problem = self._problem(e)
            else:
                if response.is_success:
                    return response
                await _read_quietly(response)
                problem = f"HTTP {response.status_code}{self._detail(response)}"
                if response.status_code not in _RETRY_STATUSES:
                    raise self._error(f"{where} refused the request: {problem}")
                retry_after = retry_after_s(response.headers.get("retry-after"))
            if attempt + 1 == attempts:
                break
            delay = min(max(retry_after or 0.0, self._backoff_s * 2**attempt), self._max_backoff_s)
            logger.warning(
                "%s request to %s failed (%s); retry %d/%d in %.2fs",
                self._purpose,
                where,
                problem,
                attempt + 1,
                self._max_retries,
                delay,
            )
            await asyncio.sleep(delay)
        raise self._error(f"{where} failed after {attempts} attempts: {problem}")

    def _problem(self, e: httpx.RequestError) -> str:
        # Scrubbed: a protocol error may quote the header it could not send.
        return self.excerpt(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)

    def _detail(self, response: httpx.Response) -> str:
        """An excerpt of an error body (a model name typo, a quota message), key cut out."""
        try:
            text = response.text
        except httpx.ResponseNotRead:  # the body broke off before it was read
            return ""
        text = self.excerpt(text)
        return f": {text}" if text else ""


async def _read_quietly(response: httpx.Response) -> None:
    """Reads (and closes) an answer whose body only serves as an excerpt in a message."""
    try:
        await response.aread()
    except httpx.RequestError:
        pass  # the message goes without the excerpt
    finally:
        await response.aclose()


class _EventParser:
    """Server-sent events, line by line (the WHATWG event-stream format), strictly: a line
    must be a comment or a known field."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []

    def pending(self) -> str | None:
        return "\n".join(self._data) if self._data else None

    def feed(self, line: str) -> tuple[str, str] | None:
        """(event name, data) when `line` ends an event; ValueError on garbage."""
        if not line:
            event = (self._name, "\n".join(self._data)) if self._data else None
            self._name, self._data = "", []
            return event
        if line.startswith(":"):  # a comment: keep-alives such as ": PROCESSING"
            return None
        field, colon, value = line.partition(":")
        if not colon or field not in ("data", "event", "id", "retry"):
            raise ValueError("not an event-stream line")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._name = value
        return None


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return seconds if math.isfinite(seconds) and seconds > 0 else None
