"""The fact evaluator (ElizaOS fact extraction / reflection): after a user's message,
keep what the agent knows true and free of duplicates.

The model sees the conversation and the known facts that bear on it, each with
its id, and answers operations (agent/formats.py): add a new fact, update or
delete a known one. Only the facts it was shown, and among them only those
learned from the speaker (their entity_id), may be changed: an id it made up, or
a fact someone else stated (shown as context), is refused and reported. A new
claim as close as a stored fact (cosine >= 0.95) is not stored again.

One speaker's turns are evaluated one at a time (a lock per agent and speaker,
from the search for known facts to the last write), and an update is a
compare-and-delete: it deletes the fact it replaces first and stores the new
claim only if that delete found it. Of two updates of one fact (two runtimes, or
a fact deleted meanwhile) one wins; the other stores nothing and reports a
conflict. A write that fails after the delete leaves the fact out, never both
the old and the new claim in.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from anima_memory_api.types import (
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
    Vector,
)
from anima_runtime.agent.formats import FactOp, parse_fact_ops
from anima_runtime.agent.state import State
from anima_runtime.agent.templates import render, template_for
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.plugins.bootstrap.conversation import (
    format_conversation,
    one_line,
    speaker_name,
)
from anima_runtime.plugins.types import (
    AgentContext,
    Evaluator,
    EvaluatorResult,
    ExampleLine,
    Message,
)

FACTS_TABLE = "facts"
FACTS_TEMPLATE_NAME = "factsTemplate"

#: Known facts at least this close to the message are offered to the model (MiniLM puts
#: a message and a related third-person fact at about 0.4-0.6, unrelated ones near 0).
MIN_SIMILARITY = 0.4
#: A claim this close to a stored fact is that fact (the memory service's `unique` rule).
DUPLICATE_SIMILARITY = 0.95
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


@dataclass(slots=True)
class _Write:
    claim: str
    key: str
    replaces: Memory | None  # the known fact this claim takes the place of


@dataclass(slots=True)
class _Outcome:
    added: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # updates that lost a race

    def result(self, offered: int) -> EvaluatorResult:
        summary = (
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"deleted {len(self.deleted)}, unchanged {len(self.unchanged)}"
        )
        if self.refused:
            summary += f", refused {len(self.refused)}"
        if self.conflicts:
            summary += f", conflicts {len(self.conflicts)}"
        return EvaluatorResult(
            summary=summary,
            data={
                "added": self.added,
                "updated": self.updated,
                "deleted": self.deleted,
                "unchanged": self.unchanged,
                "refused": self.refused,
                "conflicts": self.conflicts,
                "offered": offered,
            },
        )


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


def _key_of(memory: Memory) -> str:
    key = memory.fields.get("key")
    return key.strip() if isinstance(key, str) else ""


def _canonical_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


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
    outcome = _Outcome()
    if ops:
        await _apply(context, message, candidates, ops, outcome)
    return outcome.result(offered=len(candidates))


async def _apply(
    context: AgentContext,
    message: Message,
    candidates: Sequence[ScoredMemory],
    ops: Sequence[FactOp],
    outcome: _Outcome,
) -> None:
    offered = {scored.memory.id: scored.memory for scored in candidates}
    changed: set[str] = set()  # known facts an earlier operation already updated or deleted
    writes: list[_Write] = []
    deletes: list[Memory] = []
    for op in ops:
        if op.op == "add":
            writes.append(_Write(claim=op.claim.strip(), key=op.key.strip(), replaces=None))
            continue
        fact_id = _canonical_id(op.id)
        old = offered.get(fact_id) if fact_id else None
        if old is None:
            outcome.refused.append(
                {"op": op.op, "id": op.id, "reason": "not one of the known facts offered"}
            )
        elif old.entity_id != message.entity_id:
            outcome.refused.append(
                {"op": op.op, "id": op.id, "reason": "learned from someone else: context only"}
            )
        elif old.id in changed:
            outcome.refused.append(
                {"op": op.op, "id": op.id, "reason": "already changed by an earlier operation"}
            )
        elif op.op == "update":
            changed.add(old.id)
            writes.append(
                _Write(claim=op.claim.strip(), key=op.key.strip() or _key_of(old), replaces=old)
            )
        else:
            changed.add(old.id)
            deletes.append(old)
    await _write(context, message, writes, {m.id for m in deletes}, outcome)
    for old in deletes:
        gone = await context.memory.delete(context.agent_id, old.id)
        outcome.deleted.append({"id": old.id, "claim": old.text, "found": gone})


async def _replace(context: AgentContext, write: _Write, old: Memory, outcome: _Outcome) -> bool:
    """Delete the fact `write` replaces; False (a conflict, reported) if it was already
    gone: another update or delete got there first, and this one must not store."""
    if await context.memory.delete(context.agent_id, old.id):
        return True
    outcome.conflicts.append(
        {
            "id": old.id,
            "claim": write.claim,
            "reason": "the fact was changed or deleted meanwhile; the new claim is not stored",
        }
    )
    return False


async def _write(
    context: AgentContext,
    message: Message,
    writes: Sequence[_Write],
    deleting: set[str],
    outcome: _Outcome,
) -> None:
    """Store the new claims that are not already known, each update's only after the
    fact it replaces was deleted by it (compare-and-delete)."""
    if not writes:
        return
    vectors = await context.memory.embed([w.claim for w in writes])
    drafts: list[tuple[_Write, MemoryDraft]] = []
    for write, vector in zip(writes, vectors, strict=True):
        hits = await context.memory.search(
            MemoryFilter(agent_id=context.agent_id, table=FACTS_TABLE),
            vector.tolist(),
            limit=3,
            min_score=DUPLICATE_SIMILARITY,
        )
        old = write.replaces
        if old is not None and any(hit.memory.id == old.id for hit in hits):
            # The "new" claim restates the fact it would replace: keep that fact.
            outcome.unchanged.append(
                {"claim": write.claim, "duplicate_of": old.id, "similarity": _score(hits, old.id)}
            )
            continue
        same = next((hit for hit in hits if hit.memory.id not in deleting), None)
        if same is not None and old is not None:
            # The new value is already stored as another fact: only the old one goes.
            if await _replace(context, write, old, outcome):
                outcome.updated.append(
                    {"id": same.memory.id, "replaces": old.id, "claim": same.memory.text}
                )
            continue
        if same is not None:
            outcome.unchanged.append(
                {"claim": write.claim, "duplicate_of": same.memory.id, "similarity": same.score}
            )
            continue
        if old is not None and not await _replace(context, write, old, outcome):
            continue
        fields: dict[str, Any] = {
            "key": write.key,
            "source_message_id": message.id,
            "entity_id": message.entity_id,
        }
        if old is not None:
            fields["replaces"] = old.id
        drafts.append(
            (
                write,
                MemoryDraft(
                    agent_id=context.agent_id,
                    entity_id=message.entity_id,
                    room_id=message.room_id,
                    table=FACTS_TABLE,
                    text=write.claim,
                    fields=fields,
                    created_at_ms=context.now_ms(),
                    vector=vector,
                    unique=True,
                ),
            )
        )
    if not drafts:
        return
    results = await context.memory.create([draft for _, draft in drafts])
    for (write, _), result in zip(drafts, results, strict=True):
        if write.replaces is not None:
            # Its old fact is gone; the claim is stored (here, or as the same claim
            # earlier in this answer).
            outcome.updated.append(
                {
                    "id": result.id,
                    "replaces": write.replaces.id,
                    "claim": write.claim,
                    "key": write.key,
                }
            )
        elif not result.created:  # the same claim twice in one answer
            outcome.unchanged.append(
                {
                    "claim": write.claim,
                    "duplicate_of": result.duplicate_of,
                    "similarity": result.similarity,
                }
            )
        else:
            outcome.added.append({"id": result.id, "claim": write.claim, "key": write.key})


def _score(hits: Sequence[ScoredMemory], memory_id: str) -> float:
    return next((hit.score for hit in hits if hit.memory.id == memory_id), 0.0)


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
