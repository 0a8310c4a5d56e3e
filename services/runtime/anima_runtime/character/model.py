"""An ElizaOS character as the runtime uses it. SKELETON: the character helper
replaces this module keeping these attribute names and types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from anima_runtime.plugins.types import ExampleLine


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    """One knowledge entry: inline text, or a file/directory path as the file named it."""

    text: str = ""
    path: str = ""
    directory: str = ""
    shared: bool = False


@dataclass(frozen=True)
class Character:
    name: str
    username: str = ""
    system: str = ""
    bio: tuple[str, ...] = ()
    lore: tuple[str, ...] = ()
    message_examples: tuple[tuple[ExampleLine, ...], ...] = ()
    post_examples: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    adjectives: tuple[str, ...] = ()
    style_all: tuple[str, ...] = ()
    style_chat: tuple[str, ...] = ()
    style_post: tuple[str, ...] = ()
    knowledge: tuple[KnowledgeItem, ...] = ()
    plugins: tuple[str, ...] = ()
    templates: Mapping[str, str] = field(default_factory=dict)
    model_provider: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)  # without secrets
    shape: str = "v0.25"  # "v0.25" | "v1"

    def secret(self, key: str) -> str | None:
        return None
