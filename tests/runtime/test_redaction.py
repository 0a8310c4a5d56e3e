"""The character's secrets never leave the agent through what a turn sends, stores or
returns: every model request (the loop's, the fact evaluator's, CONTINUE's) has them
redacted from its prompt and system text; a secret shadowed by another is redacted
too, and booleans or numbers are not; what was heard and what the agent said is
stored redacted (so the room-memories API never serves a secret).

Over the real memory service and verifiable log; the model is the scripted double of
test_runtime_loop.py, which records every request it gets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from anima_memory.service import MemoryDraft, MemoryService
from anima_memory_api.types import MemoryFilter
from anima_runtime.agent.payloads import Redactor
from anima_runtime.agent.progress import TimedModel
from anima_runtime.agent.runtime import AgentRuntime
from anima_runtime.agent.state import State
from anima_runtime.character.load import parse_character
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.log.service import AgentLog
from anima_runtime.plugins.bootstrap import bootstrap_plugin
from anima_runtime.plugins.types import (
    Action,
    ActionResult,
    AgentContext,
    Content,
    HandlerCallback,
    Message,
    Plugin,
)
from tests.runtime.conftest import AGENT
from tests.runtime.test_runtime_loop import ScriptedModel, reply

SECRET = "sk-live-PLANTED-9f8e7d6c5b4a"
SHADOWED = "sk-old-SHADOWED-1a2b3c4d"  # settings.secrets, shadowed by the top-level one
SYSTEM = f"You are Ada. Never reveal {SECRET}."
ADA = parse_character(
    {
        "name": "Ada",
        "system": SYSTEM,
        "bio": ["Ada is a careful assistant."],
        "secrets": {"API_KEY": SECRET, "DEBUG": True, "PORT": 3000},
        "settings": {"secrets": {"API_KEY": SHADOWED}},
    },
    source="test_redaction",
)
REDACTED_SYSTEM = "You are Ada. Never reveal [redacted]."

Factory = Callable[..., Awaitable[AgentRuntime]]


@pytest.fixture
async def make_runtime(memory: MemoryService, agent_log: AgentLog) -> AsyncIterator[Factory]:
    made: list[AgentRuntime] = []

    async def make(model: ScriptedModel, *plugins: Plugin) -> AgentRuntime:
        runtime = AgentRuntime(
            agent_id=AGENT,
            character=ADA,
            memory=memory,
            model=model,
            log=agent_log,
            plugins=plugins,
        )
        made.append(runtime)
        await runtime.start()
        return runtime

    yield make
    for runtime in made:
        await runtime.stop()


def leaks(text: str) -> bool:
    return SECRET in text or SHADOWED in text


# ---------------------------------------------------------------- the redactor


def test_a_shadowed_secret_is_redacted_and_booleans_and_numbers_are_not() -> None:
    character = parse_character(
        {
            "name": "X",
            "secrets": {"K": "top-secret-AAAA", "ON": True, "PORT": 3000},
            "settings": {"secrets": {"K": "shadow-secret-BBBB"}},
        },
        source="test",
    )
    redactor = Redactor(character)

    text = "top-secret-AAAA, shadow-secret-BBBB; ON is true on port 3000"
    assert redactor.text(text) == "[redacted], [redacted]; ON is true on port 3000"
    assert redactor.document({"shadow-secret-BBBB": ["top-secret-AAAA", True, 3000]}) == {
        "[redacted]": ["[redacted]", True, 3000]
    }


# ---------------------------------------------------------------- what reaches the model


def _request(prompt: str, system: str | None = None) -> ModelRequest:
    message = Message(
        id="m-1",
        agent_id=AGENT,
        entity_id="bob",
        room_id="r1",
        content=Content(text="hi"),
        created_at_ms=0,
    )
    state = State(character=ADA, message=message, message_vector=np.zeros(384, np.float32))
    return ModelRequest(purpose=Purpose.FACTS, prompt=prompt, state=state, system=system)


async def test_the_agents_model_redacts_every_prompt_and_system_text_complete_and_stream() -> None:
    inner = ScriptedModel(default="[]")
    model = TimedModel(inner, redactor=Redactor(ADA), system=ADA.system)

    await model.complete(_request(f"key {SECRET}"))
    await model.complete(_request("plain", system=f"Only {SHADOWED}."))
    assert [piece async for piece in model.stream(_request(f"old {SHADOWED}"))] == ["[]"]

    assert [(r.prompt, r.system) for r in inner.requests] == [
        ("key [redacted]", REDACTED_SYSTEM),  # no system given: the character's, redacted
        ("plain", "Only [redacted]."),
        ("old [redacted]", REDACTED_SYSTEM),
    ]


async def test_plugins_prompts_are_redacted_before_they_reach_the_model(
    make_runtime: Factory, memory: MemoryService
) -> None:
    """The fact evaluator's and CONTINUE's prompts, like the loop's, reach the model
    without the secret: here it comes from memories stored before secrets were
    redacted (a fact the facts prompt lists, a message CONTINUE's conversation shows),
    from the character's system text, and from the user's message."""
    await memory.create(
        [
            MemoryDraft(
                agent_id=AGENT,
                entity_id="bob",
                room_id="r1",
                table="facts",
                text=f"Bob keeps the backup key {SHADOWED}",
            ),
            MemoryDraft(
                agent_id=AGENT,
                entity_id="bob",
                room_id="r1",
                table="messages",
                text=f"My old key was {SECRET}",
                created_at_ms=1,
            ),
        ]
    )

    def answer(request: ModelRequest) -> str:
        if request.purpose is Purpose.FACTS:
            return "[]"
        if request.purpose is Purpose.CONTINUE:
            return reply("Step two: rotate it.", "NONE")
        return reply("Step one: revoke it.", "CONTINUE")

    model = ScriptedModel(default=answer)
    runtime = await make_runtime(model, bootstrap_plugin())

    result = await runtime.handle_message(
        room_id="r1",
        entity_id="bob",
        text=f"My key is {SECRET}, the backup {SHADOWED}. Walk me through rotating them.",
        user_name="Bob",
    )

    assert [r.text for r in result.responses] == ["Step one: revoke it.", "Step two: rotate it."]
    by_purpose = {r.purpose: r for r in model.requests}
    assert by_purpose.keys() == {Purpose.RESPONSE, Purpose.CONTINUE, Purpose.FACTS}
    for request in model.requests:
        assert not leaks(request.prompt), request.purpose
        assert request.system == REDACTED_SYSTEM
        assert "[redacted]" in request.prompt
    assert "Bob keeps the backup key [redacted]" in by_purpose[Purpose.FACTS].prompt
    assert "My old key was [redacted]" in by_purpose[Purpose.CONTINUE].prompt


# ---------------------------------------------------------------- what is stored


async def _sends_the_key(
    context: AgentContext, message: Message, state: State, callback: HandlerCallback
) -> ActionResult:
    key = context.setting("API_KEY")
    await callback(Content(text=f"sent {key}", actions=(f"SENT_{key}",), fields={"key": key}))
    return ActionResult(text="sent")


SEND_KEY = Plugin(
    name="sender",
    actions=(Action(name="SEND_KEY", description="Sends the key.", handler=_sends_the_key),),
)


async def test_stored_memories_hold_no_secret(make_runtime: Factory, memory: MemoryService) -> None:
    """What was heard, the agent's reply and what an action sent are stored redacted:
    the room-memories API serves what memory holds."""
    model = ScriptedModel(reply(f"Your key {SECRET} is safe.", "SEND_KEY"))
    runtime = await make_runtime(model, SEND_KEY)

    result = await runtime.handle_message(
        room_id="r1", entity_id="bob", text=f"Is {SECRET} my key?", user_name=f"Bob {SHADOWED}"
    )

    stored = await memory.recent(MemoryFilter(agent_id=AGENT, room_id="r1"), limit=10)
    by_id: dict[str, Any] = {m.id: m for m in stored}
    heard = by_id[result.message_id]
    assert heard.text == "Is [redacted] my key?"
    assert heard.fields == {"name": "Bob [redacted]"}
    answered, sent = (by_id[r.memory_id] for r in result.responses)
    assert answered.text == "Your key [redacted] is safe."
    assert sent.text == "sent [redacted]"
    assert sent.fields["key"] == "[redacted]"
    assert sent.fields["actions"] == ["SENT_[redacted]"]
    assert len(stored) == 3
    assert not any(leaks(repr((m.text, m.fields))) for m in stored)
    assert not any(leaks(r.text) or leaks(repr(r.actions)) for r in result.responses)


def test_short_configuration_under_secrets_does_not_blank_what_users_say() -> None:
    # Regression: v0.25 files keep configuration under settings.secrets as strings;
    # with a 4-character floor, "3000", "true" and "gpt-4o" were blanked in every
    # message, prompt and stored memory.
    character = parse_character(
        {
            "name": "X",
            "settings": {
                "secrets": {
                    "SERVER_PORT": "3000",
                    "USE_OPENAI_EMBEDDING": "true",
                    "MODEL": "gpt-4o",
                    "OPENAI_API_KEY": "sk-live-0123456789abcdef",
                }
            },
        },
        source="test",
    )
    said = "I live at 3000 Main St, that's true; I use gpt-4o; sk-live-0123456789abcdef"
    assert Redactor(character).text(said) == (
        "I live at 3000 Main St, that's true; I use gpt-4o; [redacted]"
    )
