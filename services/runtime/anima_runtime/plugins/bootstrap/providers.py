"""The bootstrap providers: the current time, and the facts the agent knows."""

from __future__ import annotations

from datetime import UTC, datetime

from anima_memory_api.types import Memory, MemoryFilter
from anima_runtime.agent.state import State
from anima_runtime.plugins.bootstrap.conversation import one_line
from anima_runtime.plugins.types import AgentContext, Message, Provider, ProviderResult

#: How many of the speaker's latest facts join the ones relevant to the message.
RECENT_SPEAKER_FACTS = 10

# Spelled out here so the sentence does not depend on the process's locale.
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def time_sentence(now_ms: int) -> str:
    t = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    return (
        f"The current date and time is {_WEEKDAYS[t.weekday()]}, {t.day} "
        f"{_MONTHS[t.month - 1]} {t.year}, {t:%H:%M:%S} UTC."
    )


async def _time(context: AgentContext, message: Message, state: State) -> ProviderResult:
    now_ms = context.now_ms()
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    sentence = time_sentence(now_ms)
    return ProviderResult(
        text=f"{sentence} Use it as the reference for anything about time.",
        values={"time": sentence, "date": now.date().isoformat()},
        data={"now_ms": now_ms},
    )


async def _facts(context: AgentContext, message: Message, state: State) -> ProviderResult:
    """The facts the runtime found relevant to the message, best first, then the
    latest facts about whoever is speaking that are not among them."""
    facts: list[Memory] = [scored.memory for scored in state.facts]
    if message.entity_id != context.agent_id:
        about_speaker = await context.memory.recent(
            MemoryFilter(agent_id=context.agent_id, entity_id=message.entity_id, table="facts"),
            RECENT_SPEAKER_FACTS,
        )
        known = {m.id for m in facts}
        facts.extend(m for m in about_speaker if m.id not in known)
    claims = [one_line(m.text) for m in facts if m.text.strip()]
    if not claims:
        return ProviderResult(values={"facts": ""}, data={"facts": []})
    listed = "\n".join(f"- {claim}" for claim in claims)
    return ProviderResult(
        text=f"Key facts that {context.character.name} knows:\n{listed}",
        values={"facts": listed},
        data={
            "facts": [
                {"id": m.id, "claim": m.text, "entity_id": m.entity_id, "key": m.fields.get("key")}
                for m in facts
            ]
        },
    )


time_provider = Provider(
    name="TIME",
    get=_time,
    description="The current UTC date and time.",
)

facts_provider = Provider(
    name="FACTS",
    get=_facts,
    description="Facts the agent knows that bear on the message, and about the speaker.",
)
