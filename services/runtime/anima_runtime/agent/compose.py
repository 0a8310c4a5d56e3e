"""State composition (ElizaOS composeState): what the agent knows when it answers.

One message vector drives every recall (no text is embedded twice): the room's
latest messages, and from all the agent's rooms similar earlier messages, facts
(the speaker's own under a lower bar) and knowledge, the searches in one call
of the memory service. Then the offered actions (each action's `validate`) and
the providers' context, all at once; a provider or validator that raises or
hangs is left out and reported in `Composed.problems`, never fatal. Last, the
template values, ElizaOS-style: plain values (agentName, bio...) and sections
that carry their own heading and are empty when there is nothing to say.
Provider values win over the composed ones of the same name (as in ElizaOS v1).

What depends on the character alone (its bio, style, rendered examples) is
worked out once per runtime (`Persona`), not per message; the room's latest
messages need no vector, so the runtime asks for them while the message is
embedded (`room_history`).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from anima_memory_api.types import Matrix, Memory, MemoryFilter, ScoredMemory, SearchQuery
from anima_runtime.agent.state import State
from anima_runtime.plugins.types import (
    Action,
    AgentContext,
    ExampleLine,
    Message,
    Provider,
    ProviderResult,
    always,
)

if TYPE_CHECKING:
    from anima_runtime.agent.limits import TurnLimits
    from anima_runtime.agent.memory import MemoryPort
    from anima_runtime.character.model import Character

T = TypeVar("T")

MESSAGES = "messages"
FACTS = "facts"
KNOWLEDGE = "fragments"
MAX_PROBLEM_CHARS = 300
#: Values the runtime composes itself and shows among the providers' context when
#: no provider gives a value of that name.
STAND_IN_SECTIONS = ("knowledge", "facts", "time")
_EXAMPLE_NAME = re.compile(r"\{\{\s*(user\d*|name\d*)\s*\}\}", re.IGNORECASE)
_EXAMPLE_AGENT = re.compile(r"\{\{\s*(agentName|char)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Composed:
    state: State
    problems: tuple[str, ...] = ()  # "provider NAME: Type: message", one per part left out


def describe_error(exc: BaseException) -> str:
    """Type and message of a plugin's error, bounded, without a traceback."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 3] + "..."


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
                "messageDirections": _section(f"# Message directions for {name}", directions),
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
    values["providers"] = _section(
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


# ------------------------------------------------------------------ template values


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
        "characterMessageExamples": _section(
            f"# Example conversations for {name}", examples, separator="\n\n"
        ),
        "recentMessages": _section("# Conversation", lines),
        "relevantMemories": _section(
            "# Earlier messages like this one",
            [format_memory(s.memory, state.message.agent_id, name) for s in state.memories],
        ),
        "facts": _section(
            f"# Facts {name} knows", [f"- {one_line(s.memory.text)}" for s in state.facts]
        ),
        "knowledge": _section(
            "# Knowledge", [f"- {one_line(s.memory.text)}" for s in state.knowledge]
        ),
        "actionNames": ", ".join(a.name for a in actions),
        "actionsWithDescriptions": _section(
            "# Available actions", [f"- {a.name}: {a.description}" for a in actions]
        ),
        "actionExamples": _section(
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


def _section(heading: str, lines: Sequence[str], separator: str = "\n") -> str:
    return f"{heading}\n{separator.join(lines)}" if lines else ""


def _joined(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
