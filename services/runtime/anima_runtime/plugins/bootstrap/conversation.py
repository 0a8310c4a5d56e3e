"""How the bootstrap parts show a conversation to a model: one "Name: text" line per
message, the agent's own messages under the character's name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from anima_memory_api.types import Memory
from anima_runtime.plugins.types import AgentContext, Message

# Where a stored or incoming message may carry its speaker's display name.
_NAME_FIELDS = ("name", "userName", "user_name")


def actions_of(memory: Memory) -> tuple[str, ...]:
    """The actions a stored message chose (fields["actions"]: a list or a comma string)."""
    raw = memory.fields.get("actions")
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple):
        return ()
    return tuple(a.strip().upper() for a in raw if isinstance(a, str) and a.strip())


def speaker_name(context: AgentContext, entity_id: str, fields: Mapping[str, Any]) -> str:
    if entity_id == context.agent_id:
        return context.character.name
    for key in _NAME_FIELDS:
        name = fields.get(key)
        if isinstance(name, str) and name.strip():
            return " ".join(name.split())
    return entity_id


def memory_line(context: AgentContext, memory: Memory) -> str:
    return f"{speaker_name(context, memory.entity_id, memory.fields)}: {one_line(memory.text)}"


def message_line(context: AgentContext, message: Message) -> str:
    name = speaker_name(context, message.entity_id, message.content.fields)
    return f"{name}: {one_line(message.content.text)}"


def format_conversation(
    context: AgentContext,
    recent: Iterable[Memory],
    messages: Sequence[Message] = (),
) -> str:
    """`recent` (oldest first) then `messages`, each message once (by id)."""
    lines: list[str] = []
    seen: set[str] = set()
    for memory in recent:
        if memory.text.strip() and memory.id not in seen:
            seen.add(memory.id)
            lines.append(memory_line(context, memory))
    for message in messages:
        if message.content.text.strip() and message.id not in seen:
            seen.add(message.id)
            lines.append(message_line(context, message))
    return "\n".join(lines)


def one_line(text: str) -> str:
    """One line per message, so a message cannot pose as another speaker's line."""
    return " ".join(text.split())
