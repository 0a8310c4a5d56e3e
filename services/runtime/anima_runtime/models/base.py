"""The interface the runtime talks to a language model through.

A model gets the rendered prompt (what an LLM reads) and the composed state
(what a model that is not an LLM, such as the offline default, works from),
and answers text in the format the prompt asks for; the runtime parses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from anima_runtime.agent.state import State


class Purpose(StrEnum):
    """Why the runtime asks: the offline model answers each differently."""

    RESPONSE = "response"  # messageHandlerTemplate: JSON {text, actions, thought}
    FACTS = "facts"  # factsTemplate: JSON list of fact operations
    CONTINUE = "continue"  # the CONTINUE action's follow-up: same format as RESPONSE


@dataclass(frozen=True, slots=True)
class ModelRequest:
    purpose: Purpose
    prompt: str
    state: State
    temperature: float = 0.7
    max_tokens: int = 1024


class ChatModel(Protocol):
    @property
    def name(self) -> str:
        """Names the model (and endpoint host) for logs; never carries a key."""

    async def complete(self, request: ModelRequest) -> str:
        """The whole answer; raises ModelFailed on timeout, refusal or garbage."""

    def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        """The answer in pieces as they arrive; their concatenation is the answer."""

    async def aclose(self) -> None: ...
