"""Calls that arrive while one is in flight wait for it, then leave together.

The shape both the signer client's SignBatch coalescing and the memory service's
shared /embeddings requests use: at most one send in flight; a call that finds
nothing in flight leaves at once (no delay when idle); what arrives meanwhile is
grouped, oldest first, up to a count and a total weight (at least one call per
group). A subclass says how a group is sent and settles each call's answer.

A sender that stops early (cancelled as the loop closes, even before it ran, or
failed) leaves no caller waiting, and the next call starts a new one. A caller
cancelled while it waits is dropped from the next group.
"""

from __future__ import annotations

import asyncio
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class Waiting(Generic[T, R]):
    """One call's item, its weight towards a group's limit, and its answer."""

    item: T
    weight: int
    answer: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, outcome: R | BaseException) -> None:
        if self.answer.done():  # its caller was cancelled meanwhile
            return
        if isinstance(outcome, BaseException):
            self.answer.set_exception(outcome)
        else:
            self.answer.set_result(outcome)


class Coalescer(ABC, Generic[T, R]):
    """At most one send in flight; what arrives meanwhile goes next, together."""

    def __init__(self, *, max_weight: int, max_items: int = sys.maxsize) -> None:
        self._max_items = max_items
        self._max_weight = max_weight
        self._queue: list[Waiting[T, R]] = []
        self._sender: asyncio.Task[None] | None = None
        self._in_flight: list[Waiting[T, R]] = []

    async def submit(self, item: T, weight: int) -> R:
        waiting: Waiting[T, R] = Waiting(item, weight)
        self._queue.append(waiting)
        if self._sender is None:
            task = asyncio.get_running_loop().create_task(self._send_all())
            task.add_done_callback(self._sender_done)
            self._sender = task
        return await waiting.answer

    @abstractmethod
    async def _send_group(self, group: list[Waiting[T, R]]) -> None:
        """Send `group` and settle every call in it (a group of one: as the call alone)."""

    async def _send_all(self) -> None:
        try:
            while self._queue:
                group = self._next_group()
                if group:
                    self._in_flight = group
                    await self._send_group(group)
                    self._in_flight = []
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None

    def _next_group(self) -> list[Waiting[T, R]]:
        """The oldest calls, up to max_items and max_weight in all (at least one)."""
        group: list[Waiting[T, R]] = []
        weight = 0
        while self._queue and len(group) < self._max_items:
            waiting = self._queue[0]
            if waiting.answer.done():  # its caller was cancelled meanwhile
                self._queue.pop(0)
                continue
            if group and weight + waiting.weight > self._max_weight:
                break
            group.append(self._queue.pop(0))
            weight += waiting.weight
        return group

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if not task.cancelled() and error is None:
            return
        if self._sender is task:
            self._sender = None
        stranded = [*self._in_flight, *(self._queue if self._sender is None else ())]
        self._in_flight = []
        if self._sender is None:
            self._queue.clear()
        for waiting in stranded:
            if error is None:
                waiting.answer.cancel()
            else:
                waiting.settle(error)


__all__ = ["Coalescer", "Waiting"]
