"""A turn in progress: what the agent has said so far, and where its time went; and
the agent's model as the loop and plugins call it (`TimedModel`).

Model time is the time at least one model or embedding call of the turn was in
flight (overlapping calls count once); the rest of a turn is the runtime's
overhead. Plugins' model calls count too: the agent's model, as plugins see it
(`TimedModel`), charges the turn the current task works for. It is also where
every prompt, the loop's and each plugin's, has the character's secrets redacted
before it reaches the model.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from anima_runtime.agent.payloads import Redactor
from anima_runtime.agent.state import State
from anima_runtime.agent.turn import LoggedResponse
from anima_runtime.llm.base import ChatModel, ModelRequest
from anima_runtime.plugins.types import Message


@dataclass(slots=True)
class Turn:
    """One turn in progress."""

    message: Message
    started: float  # time.perf_counter()
    state: State | None = None
    responses: list[LoggedResponse] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)  # the agent's messages this turn
    model_s: float = 0.0  # while at least one model or embedding call was in flight
    phases_ms: dict[str, float] = field(default_factory=dict)  # wall time of each step
    _calls: int = 0
    _since: float = 0.0
    _mark: float = 0.0

    def __post_init__(self) -> None:
        self._mark = self.started

    @contextmanager
    def model_time(self) -> Iterator[None]:
        """Count a model call's time; overlapping calls count once."""
        if not self._calls:
            self._since = time.perf_counter()
        self._calls += 1
        try:
            yield
        finally:
            self._calls -= 1
            if not self._calls:
                self.model_s += time.perf_counter() - self._since

    def mark(self, phase: str) -> None:
        """The time since the previous mark was spent on `phase` (for the DEBUG record)."""
        now = time.perf_counter()
        self.phases_ms[phase] = self.phases_ms.get(phase, 0.0) + (now - self._mark) * 1000
        self._mark = now

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


#: The turn the current task works for: plugins' model calls count as its model time.
CURRENT_TURN: ContextVar[Turn | None] = ContextVar("anima_turn", default=None)


@contextmanager
def model_time() -> Iterator[None]:
    """Count what runs inside as the current turn's model time (if there is a turn)."""
    turn = CURRENT_TURN.get()
    if turn is None:
        yield
    else:
        with turn.model_time():
            yield


class TimedModel:
    """The agent's model as the loop and plugins see it. Each request reaches the model
    with the character's secrets redacted from its prompt and system text, and with
    the character's system text (redacted) when it names none. Calls made during a
    turn count as its model time (TurnResult.model_ms), not as runtime overhead."""

    def __init__(self, model: ChatModel, *, redactor: Redactor, system: str) -> None:
        self._model = model
        self._redactor = redactor
        self._system = redactor.text(system)  # the character's, redacted once

    @property
    def name(self) -> str:
        return self._model.name

    def redacted(self, request: ModelRequest) -> ModelRequest:
        """`request` as the model gets it."""
        system = self._system if request.system is None else self._redactor.text(request.system)
        return replace(request, prompt=self._redactor.text(request.prompt), system=system)

    async def complete(self, request: ModelRequest) -> str:
        request = self.redacted(request)
        with model_time():
            return await self._model.complete(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        pieces = aiter(self._model.stream(self.redacted(request)))
        while True:
            with model_time():
                try:
                    piece = await anext(pieces)
                except StopAsyncIteration:
                    return
            yield piece

    async def aclose(self) -> None:
        await self._model.aclose()
