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
from dataclasses import dataclass, field

import numpy as np

from anima_memory.embeddings.base import Embedder
from anima_memory_api.types import Matrix


@dataclass
class _Pending:
    texts: Sequence[str]
    rows: asyncio.Future[Matrix] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class CoalescingEmbedder:
    """An Embedder that shares one request among the calls made while another is in flight."""

    def __init__(self, inner: Embedder, *, max_texts: int = 128) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        self._inner = inner
        self._max_texts = max_texts
        self._queue: list[_Pending] = []
        self._sender: asyncio.Task[None] | None = None
        self._in_flight: list[_Pending] = []

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
        pending = _Pending(texts)
        self._queue.append(pending)
        if self._sender is None:
            self._start_sender()
        return await pending.rows

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _start_sender(self) -> None:
        task = asyncio.get_running_loop().create_task(self._send_all())
        task.add_done_callback(self._sender_done)
        self._sender = task

    async def _send_all(self) -> None:
        try:
            while self._queue:
                group = self._next_group()
                if group:
                    self._in_flight = group
                    await self._send(group)
                    self._in_flight = []
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        """A sender that stopped early (cancelled as the loop closes, even before it
        ran, or failed) leaves no caller waiting, and the next call starts a new one."""
        error = None if task.cancelled() else task.exception()
        if not task.cancelled() and error is None:
            return
        if self._sender is task:
            self._sender = None
        stranded = [*self._in_flight, *(self._queue if self._sender is None else ())]
        self._in_flight = []
        if self._sender is None:
            self._queue.clear()
        for pending in stranded:
            if error is None:
                pending.rows.cancel()
            else:
                _settle(pending, error)

    def _next_group(self) -> list[_Pending]:
        """The oldest calls, up to max_texts texts in all (at least one call)."""
        group: list[_Pending] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].texts) <= self._max_texts):
            pending = self._queue.pop(0)
            if not pending.rows.done():  # its caller was cancelled meanwhile
                group.append(pending)
                size += len(pending.texts)
        return group

    async def _send(self, group: list[_Pending]) -> None:
        if len(group) == 1:
            await self._send_alone(group[0])
            return
        try:
            rows = await self._inner.embed([t for p in group for t in p.texts])
        except Exception:
            # Perhaps one caller's text: each finds out alone what its own request gives.
            await asyncio.gather(*(self._send_alone(p) for p in group))
            return
        start = 0
        for pending in group:
            end = start + len(pending.texts)
            _settle(pending, np.ascontiguousarray(rows[start:end]))
            start = end

    async def _send_alone(self, pending: _Pending) -> None:
        try:
            outcome: Matrix | Exception = await self._inner.embed(pending.texts)
        except Exception as exc:
            outcome = exc
        _settle(pending, outcome)


def _settle(pending: _Pending, outcome: Matrix | BaseException) -> None:
    if pending.rows.done():
        return
    if isinstance(outcome, BaseException):
        pending.rows.set_exception(outcome)
    else:
        pending.rows.set_result(outcome)


__all__ = ["CoalescingEmbedder"]
