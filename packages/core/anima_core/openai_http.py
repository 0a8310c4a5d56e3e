"""POSTs to an OpenAI-compatible HTTP API (OpenAI, vLLM, Ollama, LiteLLM, ...): one retry
loop for the memory service's embedder and the runtime's chat model.

Transient failures (408/409/429/5xx answers, timeouts, connection errors) are retried with
exponential backoff that honours Retry-After; anything else fails at once. Failures raise
the error class the caller names, so each service keeps its own error family. The API key
is sent as a bearer token and never appears in a log line or an error message: messages
name the endpoint without credentials or query string, and excerpts of what the server
said have the key cut out in case a server echoes the request's headers.

What a server says goes into errors only where the caller opts in (`quote_bodies_in_errors`):
an endpoint URL that an API caller chose (a character's modelEndpointOverride) would
otherwise read internal pages back to that caller. Elsewhere excerpts go to this service's
log, and the error names the status. Answers are read up to `max_response_bytes` (a whole
JSON answer, a whole event stream; an error body only as far as an excerpt needs) and JSON
is depth-checked before it is decoded (anima_verify.jsonsafe).
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any, Final, cast

import httpx
from pydantic import SecretStr

from anima_core.event_stream import EventParser, LineDecoder
from anima_verify import jsonsafe
from anima_verify.errors import AnimaError

__all__ = ["MAX_RESPONSE_BYTES", "OpenAICompatibleEndpoint", "retry_after_s"]

logger = logging.getLogger(__name__)

# Answers worth asking again: the server is busy or broke this once.
_RETRY_STATUSES: Final = frozenset({408, 409, 429}) | frozenset(range(500, 600))
_EXCERPT_CHARS: Final = 200
_DONE: Final = "[DONE]"
#: The most a chat answer (or any other but an embedding's) may be, JSON or event stream.
MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
#: How much of an error answer is read: enough for its excerpt.
_ERROR_BODY_BYTES: Final = 64 * 1024
#: The purpose whose defaults differ, until its caller passes its own: the memory
#: service's embedder. Only the operator configures its endpoint, so its errors quote the
#: server; its answers are batch_size * dimension numbers, tens of MiB.
_EMBEDDING: Final = "embedding"
_MAX_EMBEDDING_RESPONSE_BYTES: Final = 256 * 1024 * 1024
_MAX_PATHS: Final = 64  # URLs kept per endpoint
#: Connection pools per endpoint, taken in turn. httpcore 1.0.9 walks its pool's
#: connections for each of them on every request it queues or finishes (quadratic in
#: the connections open): at 20 requests in flight that was ~45% of a call's CPU.
#: Eight pools of a few connections each walk a small fraction of that; nothing limits
#: how many requests are in flight (each pool has httpx's default limits).
_POOLS: Final = 8


class OpenAICompatibleEndpoint:
    """One base URL and key, and the retrying POSTs to paths under it.

    `timeout_s` bounds each network operation (a read, a write), `connect_timeout_s` each
    connection attempt, and `deadline_s` (None: no bound) a whole call from its start, retries
    and backoff included, so a server that trickles bytes forever still times out. A streamed
    answer is retried only until its 2xx status arrives: once the body starts, a failure ends
    the call.

    `max_response_bytes` bounds an answer (None: MAX_RESPONSE_BYTES, 256 MiB for the
    purpose "embedding"). `quote_bodies_in_errors`: whether error messages carry an excerpt
    of what the server said (an error body, a line that is not an event); only for an
    endpoint the operator chose and errors only the operator sees (None: only for the
    purpose "embedding").
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
        max_response_bytes: int | None = None,
        quote_bodies_in_errors: bool | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if max_response_bytes is None:
            embedding = purpose == _EMBEDDING
            max_response_bytes = _MAX_EMBEDDING_RESPONSE_BYTES if embedding else MAX_RESPONSE_BYTES
        if max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be positive, got {max_response_bytes}")
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
        self._max_bytes = max_response_bytes
        self._quote = (
            purpose == _EMBEDDING if quote_bodies_in_errors is None else quote_bodies_in_errors
        )
        self._paths: dict[str, tuple[httpx.URL, str]] = {}
        timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s or timeout_s)
        tls = httpx.create_ssl_context()  # one for all pools: each costs a CA bundle load
        self._clients = tuple(
            httpx.AsyncClient(headers=headers, timeout=timeout, verify=tls) for _ in range(_POOLS)
        )
        self._turns = itertools.cycle(self._clients)

    def __repr__(self) -> str:
        return f"OpenAICompatibleEndpoint(url={self.where()!r})"

    @property
    def host(self) -> str:
        """The endpoint's host (and port, if the URL names one), for names in logs."""
        host = f"[{self._base.host}]" if ":" in self._base.host else self._base.host
        return host if self._base.port is None else f"{host}:{self._base.port}"

    @property
    def is_closed(self) -> bool:
        return all(client.is_closed for client in self._clients)

    def where(self, path: str = "") -> str:
        """The URL of `path` for messages: without credentials or query string."""
        return self._urls(path)[1]

    def excerpt(self, text: str) -> str:
        """A short one-line excerpt of what a server said, with the API key cut out."""
        if self._secret:  # before cutting, so no part of the key survives the cut
            text = text.replace(self._secret, "***")
        return " ".join(text.split())[:_EXCERPT_CHARS]

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def post_json(self, path: str, body: Any) -> Any:
        """The JSON body of a 2xx answer to POST `path`, after retries."""
        where = self.where(path)
        client = next(self._turns)
        request = client.build_request("POST", self._url(path), json=body)
        content = b""

        async def send() -> httpx.Response:
            nonlocal content
            response = await client.send(request, stream=True)
            if response.is_success:  # read here, so a body that breaks off is retried
                content = await self._read_capped(response, where)
            return response

        async with self._deadline(path, self._deadline_at()):
            response = await self._send(path, send)
        try:
            return jsonsafe.loads(content)
        except jsonsafe.TooDeep:
            raise self._error(
                f"{where} answered {response.status_code} with JSON nested more than "
                f"{jsonsafe.MAX_DEPTH} levels deep"
            ) from None
        except ValueError:
            raise self._error(
                f"{where} answered {response.status_code} with a body that is not JSON"
            ) from None

    async def stream_sse(self, path: str, body: Any) -> AsyncGenerator[Any, None]:
        """The JSON `data` of each server-sent event answering POST `path`, up to `[DONE]`.

        Raises the error class on a line that is not server-sent events, data that is not
        JSON (or nested too deep), an `error` event, a stream that ends before `[DONE]`, or
        one longer than max_response_bytes.
        """
        where = self.where(path)
        deadline = self._deadline_at()
        lines: AsyncGenerator[str, None] | None = None
        client = next(self._turns)
        request = client.build_request(
            "POST", self._url(path), json=body, headers={"Accept": "text/event-stream"}
        )
        async with self._deadline(path, deadline):
            response = await self._send(path, lambda: client.send(request, stream=True))
        try:
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != "text/event-stream":
                async with self._deadline(path, deadline):
                    said = await _error_text(response)
                raise self._error(
                    self._quoting(
                        f"{where} answered {media_type or 'no content type'} where an event "
                        "stream was expected",
                        said,
                    )
                )
            events = EventParser()
            lines = self._lines(response, where)
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
                        self._quoting(f"{where} sent a line that is not server-sent events", line)
                    ) from None
                if event is None:
                    continue
                name, data = event
                if data == _DONE:
                    return
                if name == "error":
                    raise self._error(self._quoting(f"{where} sent an error event", data))
                try:
                    parsed = jsonsafe.loads(data)
                except jsonsafe.TooDeep:
                    raise self._error(
                        f"{where} sent an event nested more than {jsonsafe.MAX_DEPTH} levels deep"
                    ) from None
                except ValueError:
                    raise self._error(
                        self._quoting(f"{where} sent an event that is not JSON", data)
                    ) from None
                yield parsed
        finally:
            if lines is not None:
                await lines.aclose()
            await response.aclose()

    async def _lines(self, response: httpx.Response, where: str) -> AsyncGenerator[str, None]:
        """The lines of an event stream (UTF-8; CR LF, CR or LF ends one), the last one
        even without its line break; at most max_response_bytes in all."""
        decoder = LineDecoder()
        size = 0
        async with aclosing(_body(response)) as chunks:
            async for chunk in chunks:
                size += len(chunk)
                if size > self._max_bytes:
                    raise self._error(self._too_large(where))
                for line in decoder.feed(chunk):
                    yield line
        for line in decoder.end():
            yield line

    async def _read_capped(self, response: httpx.Response, where: str) -> bytes:
        """A 2xx answer's whole body, refused past max_response_bytes; closes it."""
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise self._error(self._too_large(where))
            parts: list[bytes] = []
            size = 0
            async with aclosing(_body(response)) as chunks:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise self._error(self._too_large(where))
                    parts.append(chunk)
            return b"".join(parts)
        finally:
            await response.aclose()

    def _too_large(self, where: str) -> str:
        return f"{where} answered with more than {self._max_bytes} bytes"

    def _url(self, path: str) -> httpx.URL:
        return self._urls(path)[0]

    def _urls(self, path: str) -> tuple[httpx.URL, str]:
        """`path`'s URL and its `where`, built once per path: building them (URL parsing
        and copying in httpx) was ~4% of the runtime's CPU per message (issue 20)."""
        known = self._paths.get(path)
        if known is None:
            url = self._base.copy_with(path=self._base.path.rstrip("/") + path)
            known = (url, str(url.copy_with(userinfo=b"", query=None)))
            if len(self._paths) < _MAX_PATHS:  # callers use a handful of fixed paths
                self._paths[path] = known
        return known

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
            said = ""  # what the server said, for an excerpt
            try:
                response = await send()
            except httpx.RequestError as e:  # connect errors, timeouts, dropped connections
                problem = shown = self._problem(e)
            else:
                if response.is_success:
                    return response
                said = await _error_text(response)
                shown = f"HTTP {response.status_code}"
                if response.status_code not in _RETRY_STATUSES:
                    raise self._error(self._quoting(f"{where} refused the request: {shown}", said))
                retry_after = retry_after_s(response.headers.get("retry-after"))
                excerpt = self.excerpt(said)
                problem = f"{shown}: {excerpt}" if excerpt else shown  # for this service's log
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
        raise self._error(self._quoting(f"{where} failed after {attempts} attempts: {shown}", said))

    def _problem(self, e: httpx.RequestError) -> str:
        # Scrubbed: a protocol error may quote the header it could not send.
        return self.excerpt(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)

    def _quoting(self, message: str, said: str) -> str:
        """`message` with ": <excerpt>" of what the server said (a model name typo, a quota
        message; key cut out) where errors quote the server; elsewhere the excerpt goes to
        this service's log and `message` stays as it is."""
        excerpt = self.excerpt(said)
        if not excerpt:
            return message
        if self._quote:
            return f"{message}: {excerpt}"
        logger.warning("%s request: %s (the server said: %s)", self._purpose, message, excerpt)
        return message


def _body(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The (decoded) body's chunks; an async generator, typed by httpx as an iterator."""
    return cast(AsyncGenerator[bytes, None], response.aiter_bytes())


async def _error_text(response: httpx.Response) -> str:
    """The start of an answer whose body only serves as an excerpt (at most
    _ERROR_BODY_BYTES of it), as text; closes the answer."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with aclosing(_body(response)) as body:
            async for chunk in body:
                chunks.append(chunk)
                size += len(chunk)
                if size >= _ERROR_BODY_BYTES:
                    break
    except httpx.RequestError:
        pass  # the excerpt goes with what arrived
    finally:
        await response.aclose()
    return b"".join(chunks)[:_ERROR_BODY_BYTES].decode(response.encoding or "utf-8", "replace")


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
