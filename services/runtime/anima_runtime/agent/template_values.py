"""The template values a prompt is rendered with, ElizaOS-style: plain values (agentName,
bio...) and sections that carry their own heading and are empty when there is nothing
to say, from a turn's state.

What depends on the character alone (its bio, style, rendered examples) is worked
out once per runtime (`Persona`), not per message.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from anima_memory_api.types import Memory
from anima_runtime.agent.state import State
from anima_runtime.plugins.types import Action, ExampleLine

if TYPE_CHECKING:
    from anima_runtime.agent.limits import TurnLimits
    from anima_runtime.character.model import Character

T = TypeVar("T")

_EXAMPLE_NAME = re.compile(r"\{\{\s*(user\d*|name\d*)\s*\}\}", re.IGNORECASE)
_EXAMPLE_AGENT = re.compile(r"\{\{\s*(agentName|char)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Persona:
    """The parts of the template values that depend on the character alone, rendered
    once (the same text `template_values` would render for every message)."""

    character: Character
    values: Mapping[str, str]
    lore: tuple[str, ...]
    examples: tuple[str, ...]  # the character's message examples, rendered
    # By action name: the action, and its examples rendered (for the actions given).
    action_examples: Mapping[str, tuple[Action, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def of(cls, character: Character, actions: Sequence[Action] = ()) -> Persona:
        name = character.name
        directions = [f"- {line}" for line in (*character.style_all, *character.style_chat)]
        return cls(
            character=character,
            values={
                "agentName": name,
                "system": character.system,
                "bio": " ".join(character.bio),
                "adjectives": f"{name} is {_joined(character.adjectives)}."
                if character.adjectives
                else "",
                "topics": f"{name} is interested in {_joined(character.topics)}."
                if character.topics
                else "",
                "messageDirections": section(f"# Message directions for {name}", directions),
            },
            lore=tuple(character.lore),
            examples=tuple(format_example(e, name) for e in character.message_examples),
            action_examples={
                a.name: (a, tuple(format_example(e, name) for e in a.examples)) for a in actions
            },
        )

    def examples_of(self, action: Action) -> tuple[str, ...]:
        known = self.action_examples.get(action.name)
        if known is not None and known[0] is action:
            return known[1]
        return tuple(format_example(e, self.character.name) for e in action.examples)


def template_values(
    state: State,
    *,
    sender_name: str,
    now_ms: int,
    limits: TurnLimits,
    persona: Persona | None = None,
) -> dict[str, str]:
    character = state.character
    if persona is None or persona.character is not character:
        persona = Persona.of(character)
    name = character.name
    # A sample that varies from message to message like ElizaOS's, yet is the same
    # each time one message is composed (not security: which lore lines to show).
    # Samples are drawn in this order: lore, the character's examples, the actions'.
    sample = random.Random(state.message.id)  # noqa: S311
    actions = state.actions
    lines = [format_memory(m, state.message.agent_id, name) for m in state.recent]
    lines.append(f"{sender_name}: {one_line(state.message.content.text)}")
    lore = "\n".join(_sample(sample, persona.lore, limits.lore_lines))
    examples = _sample(sample, persona.examples, limits.character_examples)
    action_examples = _sample(
        sample, [e for a in actions for e in persona.examples_of(a)], limits.action_examples
    )
    return {
        **persona.values,
        "senderName": sender_name,
        "lore": lore,
        "characterMessageExamples": section(
            f"# Example conversations for {name}", examples, separator="\n\n"
        ),
        "recentMessages": section("# Conversation", lines),
        "relevantMemories": section(
            "# Earlier messages like this one",
            [format_memory(s.memory, state.message.agent_id, name) for s in state.memories],
        ),
        "facts": section(
            f"# Facts {name} knows", [f"- {one_line(s.memory.text)}" for s in state.facts]
        ),
        "knowledge": section(
            "# Knowledge", [f"- {one_line(s.memory.text)}" for s in state.knowledge]
        ),
        "actionNames": ", ".join(a.name for a in actions),
        "actionsWithDescriptions": section(
            "# Available actions", [f"- {a.name}: {a.description}" for a in actions]
        ),
        "actionExamples": section(
            "# Action examples (how actions are chosen; not part of this conversation)",
            action_examples,
            separator="\n\n",
        ),
        "time": f"The current date and time is {_utc(now_ms)}.",
    }


def format_memory(memory: Memory, agent_id: str, agent_name: str) -> str:
    """A stored message as a conversation line: "Name: text (actions: A, B)"."""
    if memory.entity_id == agent_id:
        actions = [a for a in memory.fields.get("actions", ()) if isinstance(a, str)]
        shown = [a for a in actions if a not in ("NONE", "REPLY")]
        suffix = f" (actions: {', '.join(shown)})" if shown else ""
        return f"{agent_name}: {one_line(memory.text)}{suffix}"
    return f"{speaker_name(memory.fields, memory.entity_id)}: {one_line(memory.text)}"


def speaker_name(fields: Mapping[str, object], entity_id: str) -> str:
    name = fields.get("name")
    return one_line(name) if isinstance(name, str) and name.strip() else entity_id


def one_line(text: str) -> str:
    """A message on one line, so that it cannot pose as another speaker's line."""
    return " ".join(text.split())


def format_example(example: Sequence[ExampleLine], agent_name: str) -> str:
    lines = []
    for line in example:
        speaker = _example_text(line.speaker, agent_name)
        action = f" (actions: {line.action})" if line.action else ""
        lines.append(f"{speaker}: {_example_text(line.text, agent_name)}{action}")
    return "\n".join(lines)


def _example_text(text: str, agent_name: str) -> str:
    """ElizaOS examples name people {{user1}}... and the agent {{agentName}}."""
    text = _EXAMPLE_AGENT.sub(agent_name, text)
    return _EXAMPLE_NAME.sub(lambda m: m.group(1).capitalize(), text)


def _sample(rng: random.Random, items: Sequence[T], count: int) -> list[T]:
    if len(items) <= count:
        return list(items)
    return rng.sample(list(items), count)


def section(heading: str, lines: Sequence[str], separator: str = "\n") -> str:
    """The heading and its lines; "" when there are none, so no heading is left alone."""
    return f"{heading}\n{separator.join(lines)}" if lines else ""


def _joined(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
