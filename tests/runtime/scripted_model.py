"""A scripted stand-in for an LLM: plugin tests drive the runtime's model interface with it."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable

from anima_runtime.llm.base import ModelRequest

Script = Callable[[ModelRequest], str | Awaitable[str]]


class ScriptedModel:
    """Answers each request with the next scripted function of it (an LLM stand-in)."""

    def __init__(self, *script: Script) -> None:
        self.script = list(script)
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return "scripted"

    async def complete(self, request: ModelRequest) -> str:
        self.requests.append(request)
        answer = self.script.pop(0)(request)
        return await answer if inspect.isawaitable(answer) else answer

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        yield await self.complete(request)

    async def aclose(self) -> None:
        return None
