"""The interface the runtime talks to a language model through.

A model gets the rendered prompt (what an LLM reads) and the composed state
(what a model that is not an LLM, such as the offline default, works from),
and answers text in the format the prompt asks for; the runtime parses it.

The runtime hands a model its requests with the character's secrets redacted
from `prompt` and `system` (agent/progress.py, TimedModel); `state` is the
in-process state as composed, not redacted, so a model that sends anything
off the machine sends `prompt` and `system` only.
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
    #: The system text for an LLM. The runtime fills it in (the character's `system`,
    #: redacted) when a caller leaves it None; a model uses the character's own only
    #: for a request that did not come through the runtime.
    system: str | None = None


class ChatModel(Protocol):
    @property
    def name(self) -> str:
        """Names the model (and endpoint host) for logs; never carries a key."""

    async def complete(self, request: ModelRequest) -> str:
        """The whole answer; raises ModelFailed on timeout, refusal or garbage."""

    def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        """The answer in pieces as they arrive; their concatenation is the answer."""

    async def aclose(self) -> None: ...
