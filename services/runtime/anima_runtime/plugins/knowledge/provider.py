"""The knowledge provider: the fragments the runtime retrieved for a message, as the
"# Knowledge" section of the prompt."""

from __future__ import annotations

from anima_runtime.agent.state import State
from anima_runtime.plugins.types import AgentContext, Message, Provider, ProviderResult

#: How much of the prompt the knowledge provider may fill, in characters.
KNOWLEDGE_BUDGET = 4000


def format_knowledge(state: State, budget: int = KNOWLEDGE_BUDGET) -> tuple[str, list[str]]:
    """The "# Knowledge" section from the retrieved fragments, best first, within
    `budget` characters; and the ids of the fragments it shows."""
    header = "# Knowledge"
    lines: list[str] = []
    ids: list[str] = []
    used = len(header)
    seen: set[str] = set()
    for scored in state.knowledge:
        text = " ".join(scored.memory.text.split())
        if not text or text in seen:
            continue
        line = f"- {text}"
        room = budget - used - 1  # the newline before the line
        if len(line) > room:
            if lines or room < 40:  # a cut-off line only where nothing else fits
                break
            line = line[: room - 1].rstrip() + "…"
        seen.add(text)
        lines.append(line)
        ids.append(scored.memory.id)
        used += 1 + len(line)
    if not lines:
        return "", []
    return "\n".join([header, *lines]), ids


async def _knowledge(context: AgentContext, message: Message, state: State) -> ProviderResult:
    text, ids = format_knowledge(state)
    return ProviderResult(text=text, values={"knowledge": text}, data={"fragment_ids": ids})


knowledge_provider = Provider(
    name="KNOWLEDGE",
    get=_knowledge,
    description="Passages of the character's knowledge that bear on the message.",
)
