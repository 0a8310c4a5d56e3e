"""Embeddings from an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, Ollama, LiteLLM, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import SecretStr

from anima_core.openai_http import OpenAICompatibleEndpoint
from anima_core.openai_http import retry_after_s as _retry_after_s  # noqa: F401 (its old home)
from anima_memory_api.errors import EmbeddingFailed
from anima_memory_api.types import Matrix

_PATH = "/embeddings"


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
        if not model:
            raise ValueError("model must name the embedding model")
        self._endpoint = OpenAICompatibleEndpoint(
            base_url=base_url,
            api_key=api_key,
            error=EmbeddingFailed,
            purpose="embedding",
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        # Names the endpoint in messages without any credentials or query string.
        self._where = self._endpoint.where(_PATH)
        self._model = model
        self._dimension = dimension
        self._batch_size = batch_size

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(url={self._where!r}, model={self._model!r})"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return self._model

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if self._endpoint.is_closed:
            raise EmbeddingFailed("the embedding client is closed")
        out = np.zeros((len(texts), self._dimension), np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            answer = await self._endpoint.post_json(_PATH, {"model": self._model, "input": batch})
            out[start : start + len(batch)] = self._parse(answer, len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise EmbeddingFailed(f"{self._where} answered an all-zero embedding")
        out /= norms
        return out

    async def aclose(self) -> None:
        await self._endpoint.aclose()

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
