"""Embeddings from an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, Ollama, LiteLLM, ...)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from pydantic import SecretStr

from anima_memory.embeddings.base import Matrix
from anima_memory.errors import EmbeddingFailed

logger = logging.getLogger(__name__)

# Answers worth asking again: the server is busy or broke this once.
_RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class OpenAIEmbedder:
    """POSTs {base_url}/embeddings with up to `batch_size` texts per request.

    Retries 408/409/429/5xx answers, timeouts and connection errors `max_retries` times with
    exponential backoff (honouring Retry-After, capped at `max_backoff_s`); answers anything
    else at once. Checks every answer strictly (one finite `dimension`-long vector per text,
    every index once) and returns unit-length rows. The API key is sent as a bearer token
    and never appears in a log line or an error message.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: SecretStr | str | None,
        dimension: int,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        batch_size: int = 128,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, got {dimension}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if not model:
            raise ValueError("model must name the embedding model")
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key or "")
        self._secret = key.get_secret_value()
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        self._url = httpx.URL(base_url.rstrip("/") + "/embeddings")
        # Names the endpoint in messages without any credentials or query string.
        self._where = str(self._url.copy_with(userinfo=b"", query=None))
        self._client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout_s))
        self._model = model
        self._dimension = dimension
        self._max_retries = max_retries
        self._batch_size = batch_size
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(url={self._where!r}, model={self._model!r})"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return self._model

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if self._client.is_closed:
            raise EmbeddingFailed("the embedding client is closed")
        out = np.zeros((len(texts), self._dimension), np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            out[start : start + len(batch)] = self._parse(await self._post(batch), len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise EmbeddingFailed(f"{self._where} answered an all-zero embedding")
        out /= norms
        return out

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, batch: list[str]) -> Any:
        """The JSON body of a 2xx answer, after retries."""
        body = {"model": self._model, "input": batch}
        attempts = self._max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = await self._client.post(self._url, json=body)
            except httpx.RequestError as e:  # connect errors, timeouts, dropped connections
                problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError as e:
                        raise EmbeddingFailed(
                            f"{self._where} answered {response.status_code} with a body "
                            "that is not JSON"
                        ) from e
                problem = f"HTTP {response.status_code}{self._detail(response)}"
                if response.status_code not in _RETRY_STATUSES:
                    raise EmbeddingFailed(f"{self._where} refused the request: {problem}")
                retry_after = _retry_after_s(response.headers.get("retry-after"))
            if attempt + 1 == attempts:
                break
            delay = min(max(retry_after or 0.0, self._backoff_s * 2**attempt), self._max_backoff_s)
            logger.warning(
                "embedding request to %s failed (%s); retry %d/%d in %.2fs",
                self._where,
                problem,
                attempt + 1,
                self._max_retries,
                delay,
            )
            await asyncio.sleep(delay)
        raise EmbeddingFailed(f"{self._where} failed after {attempts} attempts: {problem}")

    def _detail(self, response: httpx.Response) -> str:
        """A short excerpt of an error body (a model name typo, a quota message), with the
        API key cut out in case the server echoes request headers."""
        text = response.text
        if self._secret:  # before cutting, so no part of the key survives the cut
            text = text.replace(self._secret, "***")
        text = " ".join(text.split())[:200]
        return f": {text}" if text else ""

    def _parse(self, answer: Any, count: int) -> Matrix:
        def fail(what: str) -> EmbeddingFailed:
            return EmbeddingFailed(f"{self._where} answered {what}")

        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise fail("JSON without a `data` list")
        if len(data) != count:
            raise fail(f"{len(data)} embeddings for {count} inputs")
        rows = np.zeros((count, self._dimension), np.float32)
        seen: set[int] = set()
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            if type(index) is not int or not 0 <= index < count:
                raise fail(f"an item whose `index` is not an integer in [0, {count})")
            if index in seen:
                raise fail(f"index {index} twice")
            seen.add(index)
            array = _numbers(item.get("embedding"))
            if array is None:
                raise fail(f"embedding {index} that is not a list of numbers")
            if array.shape != (self._dimension,):
                raise fail(
                    f"embedding {index} of shape {array.shape}, expected {self._dimension} "
                    f"numbers (is the configured dimension right for {self._model!r}?)"
                )
            if not np.all(np.isfinite(array)):
                raise fail(
                    f"embedding {index} with a NaN or infinite (or float32-overflowing) value"
                )
            rows[index] = array
        return rows


def _numbers(value: Any) -> Matrix | None:
    """A JSON list of numbers as float32; None for anything else (strings, bools, nulls,
    ragged nesting)."""
    if not isinstance(value, list):
        return None
    try:
        array = np.array(value)
    except ValueError:
        return None
    if array.dtype.kind not in "if":
        return None
    with np.errstate(over="ignore"):
        return array.astype(np.float32)


def _retry_after_s(value: str | None) -> float | None:
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
