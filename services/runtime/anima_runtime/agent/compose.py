"""State composition (ElizaOS composeState): what the agent knows when it answers.

One message vector drives every recall (no text is embedded twice): the room's
latest messages, and from all the agent's rooms similar earlier messages, facts
(the speaker's own under a lower bar) and knowledge, the searches in one call
of the memory service. Then the offered actions (each action's `validate`) and
the providers' context, all at once; a provider or validator that raises or
hangs is left out and reported in `Composed.problems`, never fatal. Last, the
template values (template_values.py). Provider values win over the composed ones
of the same name (as in ElizaOS v1).

The room's latest messages need no vector, so the runtime asks for them while the
message is embedded (`room_history`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from anima_memory_api.types import Matrix, Memory, MemoryFilter, ScoredMemory, SearchQuery
from anima_runtime.agent.state import State
from anima_runtime.agent.template_values import Persona, section, template_values
from anima_runtime.plugins.types import (
    Action,
    AgentContext,
    Message,
    Provider,
    ProviderResult,
    always,
)

if TYPE_CHECKING:
    from anima_runtime.agent.limits import TurnLimits
    from anima_runtime.agent.memory import MemoryPort

T = TypeVar("T")

MESSAGES = "messages"
FACTS = "facts"
KNOWLEDGE = "fragments"
MAX_PROBLEM_CHARS = 300
#: Values the runtime composes itself and shows among the providers' context when
#: no provider gives a value of that name.
STAND_IN_SECTIONS = ("knowledge", "facts", "time")


@dataclass(frozen=True, slots=True)
class Composed:
    state: State
    problems: tuple[str, ...] = ()  # "provider NAME: Type: message", one per part left out


def describe_error(exc: BaseException) -> str:
    """Type and message of a plugin's error, bounded, without a traceback."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 3] + "..."


async def compose_state(
    context: AgentContext,
    *,
    message: Message,
    vector: Matrix,
    sender_name: str,
    actions: Sequence[Action],
    providers: Sequence[Provider],
    limits: TurnLimits,
    history: Awaitable[Sequence[Memory]] | None = None,
    persona: Persona | None = None,
) -> Composed:
    """The state a turn is answered from. `history`: `room_history` already asked for;
    `persona`: the character's parts rendered once (both made here when not given)."""
    recalled = await recall(context, message=message, vector=vector, limits=limits, history=history)
    offered, provided, problems = await _consult_plugins(
        context, message, recalled, actions, providers, limits
    )
    state = replace(recalled, actions=tuple(offered), providers=provided)
    values = template_values(
        state, sender_name=sender_name, now_ms=context.now_ms(), limits=limits, persona=persona
    )
    texts = [r.text for r in provided.values() if r.text.strip()]
    given: dict[str, str] = {}
    for result in provided.values():  # text, whatever a plugin put there
        given.update((k, v if isinstance(v, str) else str(v)) for k, v in result.values.items())
    # The runtime's own context stands in where no provider gave it (ElizaOS v1 leaves
    # these to plugins; an agent without them still sees its facts and knowledge).
    texts += [values[key] for key in STAND_IN_SECTIONS if key not in given and values[key]]
    values.update(given)  # as in ElizaOS, provider values win over the composed ones
    values["providers"] = section(
        f"# Additional information about {context.character.name} and the world",
        texts,
        separator="\n\n",
    )
    return Composed(replace(state, values=values), tuple(problems))


async def room_history(context: AgentContext, message: Message, limits: TurnLimits) -> list[Memory]:
    """The room's latest messages, newest first (one more than shown: the incoming
    message may be among them)."""
    return await context.memory.recent(
        MemoryFilter(agent_id=context.agent_id, room_id=message.room_id, table=MESSAGES),
        limit=limits.recent_messages + 1,
    )


async def recall(
    context: AgentContext,
    *,
    message: Message,
    vector: Matrix,
    limits: TurnLimits,
    history: Awaitable[Sequence[Memory]] | None = None,
) -> State:
    """The memory part of the state: the room's history (which may have been asked
    for already: `history`) and, concurrently, one batch of four searches.

    The incoming message is left out of every result: it is stored while this runs,
    so whether a query sees it is a race; `recentMessages` adds it at the end.
    """
    agent, query = context.agent_id, vector
    searches = (
        SearchQuery(
            MemoryFilter(agent_id=agent, table=MESSAGES),
            query,
            limits.similar_messages + limits.recent_messages + 1,
            limits.similar_min_score,
        ),
        SearchQuery(
            MemoryFilter(agent_id=agent, table=FACTS), query, limits.facts, limits.fact_min_score
        ),
        # Facts about the speaker are worded about them ("Bob lives in Lisbon") and
        # asked about in the first person ("where do I live?"): a lower bar.
        SearchQuery(
            MemoryFilter(agent_id=agent, entity_id=message.entity_id, table=FACTS),
            query,
            limits.speaker_facts,
            limits.speaker_fact_min_score,
        ),
        SearchQuery(
            MemoryFilter(agent_id=agent, table=KNOWLEDGE),
            query,
            limits.knowledge,
            limits.knowledge_min_score,
        ),
    )
    recent, (similar, facts, speaker_facts, knowledge) = await asyncio.gather(
        history if history is not None else room_history(context, message, limits),
        _search_all(context.memory, searches),
    )
    recent = [m for m in recent if m.id != message.id][: limits.recent_messages]
    seen = {m.id for m in recent} | {message.id}
    earlier = [s for s in similar if s.memory.id not in seen][: limits.similar_messages]
    return State(
        character=context.character,
        message=message,
        message_vector=vector,
        recent=tuple(reversed(recent)),  # the store answers newest first
        memories=tuple(earlier),
        facts=tuple(_best_first(facts, speaker_facts)),
        knowledge=tuple(knowledge),
    )


def _best_first(*results: Sequence[ScoredMemory]) -> list[ScoredMemory]:
    seen: set[str] = set()
    merged: list[ScoredMemory] = []
    for scored in sorted((s for r in results for s in r), key=lambda s: -s.score):
        if scored.memory.id not in seen:
            seen.add(scored.memory.id)
            merged.append(scored)
    return merged


async def _search_all(
    memory: MemoryPort, searches: Sequence[SearchQuery]
) -> list[list[ScoredMemory]]:
    """Each search's results, from one call of the memory service. A search limited
    to nothing finds nothing and is not sent (the service reads a limit of 0 as its
    default)."""
    asked = [s for s in searches if s.limit > 0]
    found = iter(await memory.search_many(asked) if asked else [])
    return [next(found) if s.limit > 0 else [] for s in searches]


async def _consult_plugins(
    context: AgentContext,
    message: Message,
    state: State,
    actions: Sequence[Action],
    providers: Sequence[Provider],
    limits: TurnLimits,
) -> tuple[list[Action], dict[str, ProviderResult], list[str]]:
    """The actions whose `validate` passes and the providers' results, all concurrently.

    The default validator (`always`) is not called: most actions use it, and a task
    per action would cost more than the check.
    """
    checks = [a for a in actions if a.validate is not always]
    timeout = limits.provider_timeout_s
    outcomes = await asyncio.gather(
        *(_bounded(a.validate(context, message, state), timeout) for a in checks),
        *(_bounded(p.get(context, message, state), timeout) for p in providers),
        return_exceptions=True,
    )
    problems: list[str] = []
    passed: set[str] = set()
    for action, outcome in zip(checks, outcomes[: len(checks)], strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"action {action.name} validate: {_problem(outcome, timeout)}")
        elif outcome is True:
            passed.add(action.name)
    offered = [a for a in actions if a.validate is always or a.name in passed]
    provided: dict[str, ProviderResult] = {}
    for provider, outcome in zip(providers, outcomes[len(checks) :], strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"provider {provider.name}: {_problem(outcome, timeout)}")
        elif not isinstance(outcome, ProviderResult):
            problems.append(f"provider {provider.name}: returned {type(outcome).__name__}")
        else:
            provided[provider.name] = outcome
    return offered, provided, problems


async def _bounded(awaitable: Awaitable[T], timeout_s: float) -> T:
    async with asyncio.timeout(timeout_s):
        return await awaitable


def _problem(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if not isinstance(exc, Exception):  # cancellation and the like are not plugin faults
        raise exc
    return describe_error(exc)
