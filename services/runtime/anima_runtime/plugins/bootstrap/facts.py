"""The fact evaluator (ElizaOS fact extraction / reflection): after a user's message,
keep what the agent knows true and free of duplicates.

The model sees the conversation and the known facts that bear on it, each with
its id, and answers operations (agent/formats.py): add a new fact, update or
delete a known one. How they are carried out, and which are refused, is in
fact_writes.py.

One speaker's turns are evaluated one at a time (a lock per agent and speaker,
from the search for known facts to the last write), so one turn's operations are
decided on the facts as the turn before left them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import replace

from anima_memory_api.types import MemoryFilter, ScoredMemory, SearchQuery, Vector
from anima_runtime.agent.formats import parse_fact_ops
from anima_runtime.agent.state import State
from anima_runtime.agent.templates import render, template_for
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.plugins.bootstrap.conversation import (
    format_conversation,
    one_line,
    speaker_name,
)
from anima_runtime.plugins.bootstrap.fact_writes import FACTS_TABLE, FactChanges, apply_ops
from anima_runtime.plugins.types import (
    AgentContext,
    Evaluator,
    EvaluatorResult,
    ExampleLine,
    Message,
)

FACTS_TEMPLATE_NAME = "factsTemplate"

#: Known facts at least this close to the message are offered to the model (MiniLM puts
#: a message and a related third-person fact at about 0.4-0.6, unrelated ones near 0).
MIN_SIMILARITY = 0.4
SIMILAR_FACTS = 12  # offered from all the agent's facts, by closeness to the message
SPEAKER_FACTS = 12  # offered from the facts about the speaker, closest first
CONTEXT_MESSAGES = 6  # earlier messages shown around the one facts are taken from

FACTS_TEMPLATE = """# Task: Keep {{agentName}}'s knowledge of facts true and without duplicates.

# Conversation (context only)
{{recentMessages}}

# The message to take facts from, said by {{senderName}}
{{senderName}}: {{latestMessage}}

# Facts {{agentName}} already knows (id: claim [key])
{{knownFacts}}

# Instructions
Find the lasting facts the message states: about {{senderName}} (name, home, work, family, \
likes, plans) or about the world. Skip questions, greetings, passing moods, and anything \
{{agentName}} said. Compare each with the known facts:
- a fact not known yet: {"op": "add", "claim": ..., "key": ...}
- a fact that changes a known one: {"op": "update", "id": <its id>, "claim": ..., "key": ...}
- a known fact the message says is no longer true: {"op": "delete", "id": <its id>}
- a fact already known: nothing.
Write each claim as one short sentence that names who it is about ("{{senderName}} lives \
in Lisbon"). The key names the one thing the claim is about, in snake_case: for a claim \
about {{senderName}} the thing alone ("lives_in", "works_as", "likes:jazz", "has:dog"), for \
anyone or anything else prefixed with who or what ("bob.lives_in"). A fact that replaces a \
known one keeps its key; a new value for a one-value key (where someone lives, their job) \
is an update of the known fact, not an add. Use only ids from the known facts above; a \
fact marked context only was learned from someone else and is never updated or deleted.

Answer with one JSON list in a ```json block, nothing else; [] when nothing changes:
```json
[{"op": "add", "claim": "{{senderName}} works as a nurse", "key": "works_as"}]
```
"""


#: One lock per (agent, speaker) while a turn's facts are evaluated; an entry lives as
#: long as a turn holds or waits for it, so the map stays as small as the turns in flight.
_speaker_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def _speaker_lock(agent_id: str, entity_id: str) -> asyncio.Lock:
    lock = _speaker_locks.get((agent_id, entity_id))
    if lock is None:
        lock = _speaker_locks[(agent_id, entity_id)] = asyncio.Lock()
    return lock


async def _from_a_user(context: AgentContext, message: Message, state: State) -> bool:
    return message.entity_id != context.agent_id and bool(message.content.text.strip())


async def candidate_facts(
    context: AgentContext, message: Message, state: State
) -> list[ScoredMemory]:
    """The known facts offered to the model: those like the message among all the
    agent's facts, those the runtime found (still stored), then the speaker's own,
    closest first. Only the speaker's may be changed; the others are context.

    Searched afresh (in one call), not taken from the state: the state was composed
    before this turn held the speaker's lock, and another turn may have changed the
    speaker's facts since."""
    vector = state.message_vector
    query: Vector | str = vector if vector.size else message.content.text
    similar, about_speaker = await context.memory.search_many(
        [
            SearchQuery(
                MemoryFilter(agent_id=context.agent_id, table=FACTS_TABLE),
                query,
                limit=SIMILAR_FACTS,
                min_score=MIN_SIMILARITY,
            ),
            SearchQuery(
                MemoryFilter(
                    agent_id=context.agent_id, entity_id=message.entity_id, table=FACTS_TABLE
                ),
                query,
                limit=SPEAKER_FACTS,
            ),
        ]
    )
    # A fact the state holds that another turn has since replaced or deleted must not
    # be offered again; one the searches just found is still stored.
    just_found = {s.memory.id for s in (*similar, *about_speaker)}
    found = await _still_stored(context, state.facts, just_found)
    out: list[ScoredMemory] = []
    seen: set[str] = set()
    for scored in (*similar, *found, *about_speaker):
        if scored.memory.table == FACTS_TABLE and scored.memory.id not in seen:
            seen.add(scored.memory.id)
            out.append(scored)
    return out


async def _still_stored(
    context: AgentContext, facts: Sequence[ScoredMemory], stored: set[str]
) -> list[ScoredMemory]:
    """The facts among `facts` that are still stored; those in `stored` are known to be,
    the others are asked for (no call when there are none)."""
    facts = [s for s in facts if s.memory.table == FACTS_TABLE]
    unsure = [s.memory.id for s in facts if s.memory.id not in stored]
    if not unsure:
        return facts
    _, missing = await context.memory.get(context.agent_id, unsure)
    gone = set(missing)
    return [s for s in facts if s.memory.id not in gone]


def _listing(candidates: Sequence[ScoredMemory], speaker: str) -> str:
    lines = []
    for scored in candidates:
        key = scored.memory.fields.get("key")
        suffix = f" [{key}]" if isinstance(key, str) and key else ""
        if scored.memory.entity_id != speaker:
            suffix += " (context only: from someone else)"
        lines.append(f"{scored.memory.id}: {one_line(scored.memory.text)}{suffix}")
    return "\n".join(lines) if lines else "(none)"


async def _extract(
    context: AgentContext, message: Message, state: State, responses: Sequence[Message]
) -> EvaluatorResult:
    lock = _speaker_lock(context.agent_id, message.entity_id)
    async with lock:
        return await _evaluate(context, message, state, responses)


async def _evaluate(
    context: AgentContext, message: Message, state: State, responses: Sequence[Message]
) -> EvaluatorResult:
    candidates = await candidate_facts(context, message, state)
    sender = speaker_name(context, message.entity_id, message.content.fields)
    values = {
        **state.values,
        "agentName": context.character.name,
        "senderName": sender,
        "recentMessages": format_conversation(
            context, state.recent[-CONTEXT_MESSAGES:], (message, *responses)
        ),
        "latestMessage": one_line(message.content.text),
        "knownFacts": _listing(candidates, message.entity_id),
    }
    template = template_for(context.character, FACTS_TEMPLATE_NAME, FACTS_TEMPLATE)
    request = ModelRequest(
        purpose=Purpose.FACTS,
        prompt=render(template, values),
        state=replace(state, facts=tuple(candidates)),
        temperature=0.2,
    )
    ops = parse_fact_ops(await context.model.complete(request))
    outcome = await apply_ops(context, message, candidates, ops) if ops else FactChanges()
    return outcome.result(offered=len(candidates))


def _user(text: str) -> ExampleLine:
    return ExampleLine(speaker="{{user1}}", text=text)


def _agent(text: str) -> ExampleLine:
    return ExampleLine(speaker="{{agentName}}", text=text, action="NONE")


fact_evaluator = Evaluator(
    name="FACT_EXTRACTION",
    similes=("GET_FACTS", "EXTRACT_FACTS", "GET_CLAIMS", "EXTRACT_CLAIMS", "REFLECTION"),
    description=(
        "After a user's message, extract the lasting facts it states and reconcile them "
        "with the facts already known: add new ones, update changed ones, delete retracted "
        "ones, never store one twice."
    ),
    handler=_extract,
    validate=_from_a_user,
    always_run=False,
    examples=(
        (
            _user("I'm Sam, I work night shifts as a nurse in Berlin."),
            _agent("Night shifts sound tough, Sam. How long have you been doing it?"),
        ),
        (
            _user("Quick update: I moved from Berlin to Lisbon last month."),
            _agent("Big move! How are you finding Lisbon?"),
        ),
        (
            _user("Forget what I said about the cat, I don't have one anymore."),
            _agent("Sorry to hear that. Noted."),
        ),
    ),
)
