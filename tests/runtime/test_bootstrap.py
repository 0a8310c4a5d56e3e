"""The bootstrap plugin: its actions (CONTINUE bounded by what the room's stored messages
say, IGNORE, NONE) with examples that tell them apart by embedding similarity, the time
and facts providers, and the plugin registry. Runs over the real memory service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from anima_memory.service import MemoryDraft, MemoryService
from anima_memory_api.types import Matrix, Memory, MemoryFilter
from anima_runtime.agent.prompts import CONTINUE_MESSAGE_HANDLER
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character
from anima_runtime.llm.base import Purpose
from anima_runtime.plugins import bootstrap_plugin, resolve_plugins
from anima_runtime.plugins.bootstrap import (
    MAX_CONTINUES_IN_A_ROW,
    continue_action,
    facts_provider,
    ignore_action,
    none_action,
    time_provider,
)
from anima_runtime.plugins.types import Action, Content, Message, Plugin
from tests.runtime.scripted_model import Script, ScriptedModel

AGENT = "ada-agent"
ROOM = "room-1"
SAM = "sam"
NOW_MS = 1_700_000_000_000  # Tuesday 14 November 2023, 22:13:20 UTC


@dataclass
class Context:
    """The AgentContext the runtime gives plugins, over the real memory service."""

    memory: MemoryService
    model: ScriptedModel = field(default_factory=ScriptedModel)
    character: Character = field(default_factory=lambda: Character(name="Ada"))
    agent_id: str = AGENT
    clock_ms: int = NOW_MS

    async def embed(self, texts: Sequence[str]) -> Matrix:
        return await self.memory.embed(texts)

    def setting(self, key: str) -> str | None:
        return None

    def now_ms(self) -> int:
        return self.clock_ms


def says(text: str, *actions: str) -> Script:
    return lambda request: json.dumps({"thought": "", "text": text, "actions": list(actions)})


@pytest.fixture
def context(memory: MemoryService) -> Context:
    return Context(memory=memory)


class Room:
    """A room's messages, stored as the runtime stores them (actions in fields)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.clock = NOW_MS

    async def say(self, entity: str, text: str, *actions: str) -> Memory:
        self.clock += 1000
        fields: dict[str, object] = {"name": "Ada" if entity == AGENT else entity.capitalize()}
        if actions:
            fields["actions"] = list(actions)
        [result] = await self.context.memory.create(
            [
                MemoryDraft(
                    agent_id=AGENT,
                    entity_id=entity,
                    room_id=ROOM,
                    table="messages",
                    text=text,
                    fields=fields,
                    created_at_ms=self.clock,
                )
            ]
        )
        [memory], _ = await self.context.memory.get(AGENT, [result.id])
        return memory

    async def state(self, message: Memory, recent: Sequence[Memory] = ()) -> tuple[Message, State]:
        incoming = Message(
            id=message.id,
            agent_id=AGENT,
            entity_id=message.entity_id,
            room_id=ROOM,
            content=Content(text=message.text, fields=message.fields),
            created_at_ms=message.created_at_ms,
        )
        vector = (await self.context.memory.embed([message.text]))[0]
        state = State(
            character=self.context.character,
            message=incoming,
            message_vector=vector,
            recent=tuple(recent),
            values={"agentName": "Ada", "bio": "Ada tells stories."},
        )
        return incoming, state

    async def messages(self) -> list[Memory]:
        where = MemoryFilter(agent_id=AGENT, room_id=ROOM, table="messages")
        return list(reversed(await self.context.memory.recent(where, 50)))


# ---------------------------------------------------------------- the plugin


def test_the_plugin_carries_the_bootstrap_parts() -> None:
    plugin = bootstrap_plugin()
    assert [a.name for a in plugin.actions] == ["CONTINUE", "IGNORE", "NONE"]
    assert [p.name for p in plugin.providers] == ["TIME", "FACTS", "KNOWLEDGE"]
    assert [e.name for e in plugin.evaluators] == ["FACT_EXTRACTION"]


@pytest.mark.parametrize("action", [continue_action, ignore_action, none_action])
def test_actions_are_described_with_similes_and_example_conversations(action: Action) -> None:
    assert len(action.description) > 80
    assert action.similes and all(s.isupper() and " " not in s for s in action.similes)
    assert len(action.examples) >= 5
    for example in action.examples:
        assert example[0].speaker == "{{user1}}" and example[0].action is None
        assert any(line.action == action.name for line in example)
        for line in example:
            assert line.speaker in ("{{user1}}", "{{agentName}}")
            assert (line.action is not None) == (line.speaker == "{{agentName}}")


PROBES = {
    "CONTINUE": [
        "Could you explain step by step how to brew beer at home?",
        "keep going, what happened after that?",
        "List everything I need to start a vegetable garden.",
    ],
    "IGNORE": [
        "Stop talking to me, go away.",
        "You're a stupid bot, shut up.",
        "I don't want to talk anymore, leave me alone.",
    ],
    "NONE": [
        "Hello! How are you doing today?",
        "What's your favourite book?",
        "Thanks, that helped a lot.",
        "I live in Lisbon.",
    ],
}


async def test_examples_pick_the_action_by_embedding_similarity(memory: MemoryService) -> None:
    """A model that is not an LLM picks the action whose example user lines are closest
    to the message: the examples must make that choice right on clear cases."""
    asked: dict[str, list[str]] = {}
    for action in bootstrap_plugin().actions:
        asked[action.name] = [
            example[i - 1].text
            for example in action.examples
            for i, line in enumerate(example)
            if line.action == action.name and i and example[i - 1].action is None
        ]
    vectors = {name: await memory.embed(lines) for name, lines in asked.items()}
    for expected, probes in PROBES.items():
        for probe, vector in zip(probes, await memory.embed(probes), strict=True):
            scores = {name: float(np.max(m @ vector)) for name, m in vectors.items()}
            assert max(scores, key=lambda n: scores[n]) == expected, (probe, scores)


# ---------------------------------------------------------------- CONTINUE


async def test_continue_sends_the_next_part_after_the_stored_response(context: Context) -> None:
    room = Room(context)
    asked = await room.say(SAM, "Tell me a story about a lighthouse keeper.")
    message, state = await room.state(asked)
    await room.say(AGENT, "Once there was a keeper named Ilse.", "CONTINUE")  # the response
    context.model.script.append(says("One night the lamp failed.", "NONE"))
    sent: list[Content] = []

    async def callback(content: Content) -> None:
        sent.append(content)
        await room.say(AGENT, content.text, *content.actions)

    result = await continue_action.handler(context, message, state, callback)

    assert result is not None and result.success
    assert result.data == {"sent": 1, "limit_reached": False}
    assert sent == [Content(text="One night the lamp failed.", actions=("NONE",))]
    [request] = context.model.requests
    assert request.purpose is Purpose.CONTINUE
    assert request.prompt.startswith("# Task: continue the last message of Ada")
    conversation = (
        "Sam: Tell me a story about a lighthouse keeper.\nAda: Once there was a keeper named Ilse."
    )
    assert conversation in request.prompt
    assert [m.text for m in request.state.recent][-1] == "Once there was a keeper named Ilse."
    assert [m.text for m in await room.messages()][-1] == "One night the lamp failed."


async def test_continue_loops_within_the_limit_and_stops_claiming_continue(
    context: Context,
) -> None:
    room = Room(context)
    earlier = await room.say(AGENT, "Here is the first thing.", "CONTINUE")
    asked = await room.say(SAM, "And then?")
    message, state = await room.state(asked, recent=[earlier])
    await room.say(AGENT, "Then the second thing.", "CONTINUE")  # the response
    context.model.script.extend(
        [says(f"Part {n}.", "CONTINUE") for n in range(1, 2 * MAX_CONTINUES_IN_A_ROW)]
    )

    async def callback(content: Content) -> None:
        await room.say(AGENT, content.text, *content.actions)

    result = await continue_action.handler(context, message, state, callback)

    assert result is not None
    assert result.data == {"sent": MAX_CONTINUES_IN_A_ROW - 1, "limit_reached": True}
    agent = [m for m in await room.messages() if m.entity_id == AGENT]
    continues = [("CONTINUE" in m.fields.get("actions", [])) for m in agent]
    assert continues == [True] * MAX_CONTINUES_IN_A_ROW + [False]
    assert len(context.model.requests) == MAX_CONTINUES_IN_A_ROW - 1


async def test_continue_is_offered_again_once_the_agent_answers_plainly(context: Context) -> None:
    room = Room(context)
    for n in range(MAX_CONTINUES_IN_A_ROW):
        await room.say(AGENT, f"Part {n}.", "CONTINUE")
        await room.say(SAM, "ok")  # other speakers do not end the agent's run
    asked = await room.say(SAM, "More?")
    message, full = await room.state(asked, recent=await room.messages())
    assert not await continue_action.validate(context, message, full)

    async def callback(content: Content) -> None:
        raise AssertionError("over the limit: nothing to send")

    refused = await continue_action.handler(context, message, full, callback)
    assert refused is not None and not refused.success
    assert refused.data == {"sent": 0, "limit_reached": True}
    assert context.model.requests == []

    await room.say(AGENT, "That is all for now.", "NONE")
    message, reset = await room.state(asked, recent=await room.messages())
    assert await continue_action.validate(context, message, reset)


async def test_continue_sends_nothing_for_a_repeat_or_an_empty_part(context: Context) -> None:
    room = Room(context)
    asked = await room.say(SAM, "Explain it in detail.")
    message, state = await room.state(asked)
    await room.say(AGENT, "It works with hashes.", "CONTINUE")
    context.model.script.extend([says("It  works with hashes.", "CONTINUE"), says("", "NONE")])
    sent: list[Content] = []

    async def callback(content: Content) -> None:
        sent.append(content)

    for _ in range(2):
        result = await continue_action.handler(context, message, state, callback)
        assert result is not None and result.data == {"sent": 0, "limit_reached": False}
    assert sent == []


async def test_continue_uses_the_characters_template(memory: MemoryService) -> None:
    character = Character(
        name="Ada", templates={CONTINUE_MESSAGE_HANDLER: "MORE {{recentMessages}}"}
    )
    context = Context(memory=memory, character=character)
    room = Room(context)
    asked = await room.say(SAM, "Go on.")
    message, state = await room.state(asked)
    context.model.script.append(says("", "NONE"))

    async def callback(content: Content) -> None:
        raise AssertionError("nothing to send")

    await continue_action.handler(context, message, state, callback)
    assert context.model.requests[0].prompt == "MORE # Conversation\nSam: Go on."


# ---------------------------------------------------------------- IGNORE, NONE


async def test_ignore_marks_the_turn_ignored_and_none_does_nothing(context: Context) -> None:
    room = Room(context)
    message, state = await room.state(await room.say(SAM, "Go away."))

    async def callback(content: Content) -> None:
        raise AssertionError("IGNORE and NONE send nothing")

    ignored = await ignore_action.handler(context, message, state, callback)
    nothing = await none_action.handler(context, message, state, callback)
    assert ignored is not None and ignored.success and ignored.data == {"ignored": True}
    assert nothing is not None and nothing.success and nothing.text == ""
    assert context.model.requests == []


# ---------------------------------------------------------------- providers


async def test_time_provider_states_the_utc_date_and_time(context: Context) -> None:
    room = Room(context)
    message, state = await room.state(await room.say(SAM, "What day is it?"))
    result = await time_provider.get(context, message, state)
    sentence = "The current date and time is Tuesday, 14 November 2023, 22:13:20 UTC."
    assert result.text.startswith(sentence)
    assert result.values == {"time": sentence, "date": "2023-11-14"}
    assert result.data == {"now_ms": NOW_MS}


async def test_facts_provider_lists_relevant_then_the_speakers_latest_facts(
    context: Context,
) -> None:
    memory = context.memory

    async def fact(entity: str, text: str, at: int) -> str:
        draft = MemoryDraft(AGENT, entity, ROOM, "facts", text, created_at_ms=NOW_MS + at)
        return (await memory.create([draft]))[0].id

    await fact(SAM, "Sam lives in Lisbon", 1)
    await fact(SAM, "Sam has a dog named Rex", 2)
    await fact("bob", "Bob plays chess on Sundays", 3)
    await fact("bob", "Bob is a baker", 4)
    room = Room(context)
    asked = await room.say(SAM, "Want to play chess with my dog?")
    message, state = await room.state(asked)
    relevant = await memory.search(
        MemoryFilter(agent_id=AGENT, table="facts"), state.message_vector.tolist(), limit=2
    )
    assert {s.memory.text for s in relevant} == {
        "Bob plays chess on Sundays",
        "Sam has a dog named Rex",
    }
    result = await facts_provider.get(context, message, replace(state, facts=tuple(relevant)))

    lines = result.text.splitlines()
    assert lines[0] == "Key facts that Ada knows:"
    assert lines[1:] == [f"- {s.memory.text}" for s in relevant] + ["- Sam lives in Lisbon"]
    assert result.values == {"facts": "\n".join(lines[1:])}
    assert [f["claim"] for f in result.data["facts"]] == [line[2:] for line in lines[1:]]


async def test_facts_provider_is_empty_without_facts(context: Context) -> None:
    room = Room(context)
    message, state = await room.state(await room.say(SAM, "Hi"))
    result = await facts_provider.get(context, message, state)
    assert (result.text, result.values) == ("", {"facts": ""})


# ---------------------------------------------------------------- registry


def test_bootstrap_comes_first_and_once() -> None:
    plugins, unknown = resolve_plugins(
        [
            "@elizaos/plugin-solana",
            "bootstrap",
            "@elizaos/plugin-bootstrap",
            " @ElizaOS/Plugin-SQL ",
        ]
    )
    assert [p.name for p in plugins] == ["bootstrap"]
    assert unknown == ["@elizaos/plugin-solana"]


def test_unknown_names_come_back_once_in_order() -> None:
    plugins, unknown = resolve_plugins(
        ["b-plugin", "a-plugin", "b-plugin", "", "@elizaos/plugin-knowledge"]
    )
    assert [p.name for p in plugins] == ["bootstrap"]
    assert unknown == ["b-plugin", "a-plugin"]


def test_no_names_still_gives_bootstrap() -> None:
    plugins, unknown = resolve_plugins([])
    assert [p.name for p in plugins] == ["bootstrap"] and unknown == []


def test_other_built_ins_resolve_by_name_after_bootstrap() -> None:
    def evm() -> Plugin:
        return Plugin(name="evm")

    plugins, unknown = resolve_plugins(
        ["@elizaos/plugin-evm", "x", "EVM"],
        builtins={"@elizaos/plugin-evm": evm, "evm": evm, "bootstrap": bootstrap_plugin},
    )
    assert [p.name for p in plugins] == ["bootstrap", "evm"]
    assert unknown == ["x"]
