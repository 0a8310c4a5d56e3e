"""The state a turn is answered from (ElizaOS State): template values plus the
structured parts they were rendered from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from anima_memory_api.types import Matrix, Memory, ScoredMemory

if TYPE_CHECKING:
    from anima_runtime.character.model import Character
    from anima_runtime.plugins.types import Action, Message, ProviderResult


@dataclass(frozen=True, slots=True)
class State:
    character: Character
    message: Message
    message_vector: Matrix  # shape (384,): the incoming text's unit embedding
    recent: tuple[Memory, ...] = ()  # the room's latest messages, oldest first
    memories: tuple[ScoredMemory, ...] = ()  # earlier messages like this one, best first
    facts: tuple[ScoredMemory, ...] = ()  # known facts relevant to the message
    knowledge: tuple[ScoredMemory, ...] = ()  # knowledge chunks relevant to the message
    actions: tuple[Action, ...] = ()  # validated for this message, offered to the model
    providers: Mapping[str, ProviderResult] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)  # template variables
