"""Concurrent embed calls sent to the model server together, as one /embeddings request.

Each message makes the memory service embed twice (the search query, the reply), and
each HTTP call to the model costs ~0.5 ms of client CPU whatever it carries
(docs/performance.md, issue 20). So while one request is in flight, the texts that
arrive meanwhile wait for it and then go together (the OpenAI-compatible `input`
array). A call that finds nothing in flight goes at once: no delay when idle.

Each caller gets its own rows. If a shared request fails, each of its callers' texts
is sent again alone, so a text the model refuses fails only its own caller, with the
error its own request gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from anima_core.coalescing import Coalescer, Waiting
from anima_memory.embeddings.base import Embedder
from anima_memory_api.types import Matrix

_Pending = Waiting[Sequence[str], Matrix]


class CoalescingEmbedder(Coalescer[Sequence[str], Matrix]):
    """An Embedder that shares one request among the calls made while another is in flight."""

    def __init__(self, inner: Embedder, *, max_texts: int = 128) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        super().__init__(max_weight=max_texts)
        self._inner = inner

    def __repr__(self) -> str:
        return f"CoalescingEmbedder({self._inner!r})"

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return await self._inner.embed(texts)
        return await self.submit(texts, len(texts))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _send_group(self, group: list[_Pending]) -> None:
        if len(group) == 1:
            await self._send_alone(group[0])
            return
        try:
            rows = await self._inner.embed([t for p in group for t in p.item])
        except Exception:
            # Perhaps one caller's text: each finds out alone what its own request gives.
            await asyncio.gather(*(self._send_alone(p) for p in group))
            return
        start = 0
        for pending in group:
            end = start + len(pending.item)
            pending.settle(np.ascontiguousarray(rows[start:end]))
            start = end

    async def _send_alone(self, pending: _Pending) -> None:
        try:
            outcome: Matrix | Exception = await self._inner.embed(pending.item)
        except Exception as exc:
            outcome = exc
        pending.settle(outcome)


__all__ = ["CoalescingEmbedder"]
