"""The offline model on the real MiniLM: actions by similarity to the bootstrap actions'
examples, answers from facts, earlier messages, knowledge and real characters' examples,
and fact operations read by rule."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import numpy as np
import pytest

from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.errors import EmbeddingFailed
from anima_memory_api.types import Matrix, Memory, ScoredMemory
from anima_runtime.agent.formats import FactOp, parse_fact_ops, parse_response
from anima_runtime.agent.state import State
from anima_runtime.character.load import load_character
from anima_runtime.character.model import Character
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.llm.offline import OfflineModel
from anima_runtime.llm.offline.persons import second_person, swap_persons
from anima_runtime.llm.offline.statements import claims_in
from anima_runtime.plugins.bootstrap import BOOTSTRAP_ACTIONS
from anima_runtime.plugins.types import (
    Action,
    ActionResult,
    Content,
    ExampleLine,
    Message,
)
from tests.runtime.conftest import real_character

AGENT = "agent-1"
USER = "user-ada"
OTHER_USER = "user-bob"

GUIDE = Character(
    name="Ava",
    bio=("Ava is a guide to the city of Lisbon.", "likes old trams"),
    topics=("Lisbon's history", "Portuguese food"),
    message_examples=(
        (
            ExampleLine("{{user1}}", "do you remember me?"),
            ExampleLine("Ava", "Of course, {{user1}}! Good to see you again."),
        ),
    ),
)
KESSEL = (
    "The Kessel Run is a smuggling route near the Maw, a cluster of black holes. "
    "Han Solo boasted that the Millennium Falcon made the Kessel Run in less than twelve "
    "parsecs. A parsec measures distance, not time, so the boast means he found a shorter "
    "route past the black holes. Smugglers carried spice from the mines of Kessel."
)


def _id(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


async def _memory(
    minilm: MiniLmOnnxEmbedder,
    text: str,
    *,
    table: str = "facts",
    entity: str = USER,
    key: str | None = None,
    with_vector: bool = True,
) -> Memory:
    vector = (await minilm.embed([text]))[0] if with_vector else np.zeros(0, np.float32)
    return Memory(
        id=_id(f"{entity}/{table}/{text}"),
        agent_id=AGENT,
        entity_id=entity,
        room_id="room-1",
        table=table,
        text=text,
        created_at_ms=1_700_000_000_000,
        vector=vector,
        fields={"key": key} if key else {},
    )


async def _state(
    minilm: MiniLmOnnxEmbedder,
    text: str,
    *,
    character: Character = GUIDE,
    facts: Sequence[Memory] = (),
    memories: Sequence[Memory] = (),
    knowledge: Sequence[Memory] = (),
    recent: Sequence[Memory] = (),
    actions: Sequence[Action] = BOOTSTRAP_ACTIONS,
    values: dict[str, str] | None = None,
    entity: str = USER,
) -> State:
    vector = (await minilm.embed([text]))[0]

    async def scored(found: Sequence[Memory]) -> tuple[ScoredMemory, ...]:
        # As the memory service answers: best first, scored by cosine to the message.
        out = []
        for m in found:
            own = m.vector if m.vector.size else (await minilm.embed([m.text]))[0]
            out.append(ScoredMemory(m, float(own @ vector)))
        return tuple(sorted(out, key=lambda s: -s.score))

    return State(
        character=character,
        message=Message(
            id=_id(f"message/{entity}/{text}"),
            agent_id=AGENT,
            entity_id=entity,
            room_id="room-1",
            content=Content(text=text),
            created_at_ms=1_700_000_000_500,
        ),
        message_vector=vector,
        recent=tuple(recent),
        memories=await scored(memories),
        facts=await scored(facts),
        knowledge=await scored(knowledge),
        actions=tuple(actions),
        values=values or {},
    )


async def _respond(
    model: OfflineModel, state: State, purpose: Purpose = Purpose.RESPONSE
) -> Content:
    return parse_response(await model.complete(ModelRequest(purpose, "(not read)", state)))


async def _facts(model: OfflineModel, state: State) -> list[FactOp]:
    return parse_fact_ops(await model.complete(ModelRequest(Purpose.FACTS, "(not read)", state)))


@pytest.fixture
def model(minilm: MiniLmOnnxEmbedder) -> OfflineModel:
    return OfflineModel(minilm.embed)


# ------------------------------------------------------------------ actions


@pytest.mark.parametrize(
    "text", ["shut up", "stop talking to me", "leave me alone", "go away, bot"]
)
async def test_a_dismissal_is_ignored_with_no_text(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, text: str
) -> None:
    content = await _respond(model, await _state(minilm, text))
    assert content.actions == ("IGNORE",)
    assert content.text == ""
    assert "IGNORE" in content.thought


@pytest.mark.parametrize(
    "text", ["hey, how's it going?", "good morning!", "thanks a lot", "nice to meet you"]
)
async def test_small_talk_is_answered_with_none(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, text: str
) -> None:
    content = await _respond(model, await _state(minilm, text))
    assert content.actions == ("NONE",)
    assert content.text.strip()


@pytest.mark.parametrize(
    "text", ["How does the log work?", "tell me more", "go on", "and then what happened?"]
)
async def test_continue_is_never_chosen_from_the_users_message(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, text: str
) -> None:
    # CONTINUE is the agent's judgement about its own unfinished answer.
    content = await _respond(model, await _state(minilm, text))
    assert "CONTINUE" not in content.actions


async def _send(*args: object) -> ActionResult:
    return ActionResult()


SEND_TOKEN = Action(
    name="SEND_TOKEN",
    description="Send tokens to an address.",
    handler=_send,
    similes=("TRANSFER_TOKEN",),
    examples=(
        (
            ExampleLine("{{user1}}", "send 1 ETH to 0x4b2a"),
            ExampleLine("{{agentName}}", "Sending 1 ETH now.", "SEND_TOKEN"),
        ),
        (
            ExampleLine("{{user1}}", "transfer 20 USDC to bob.eth please"),
            ExampleLine("{{agentName}}", "On its way.", "SEND_TOKEN"),
        ),
    ),
)


async def test_an_action_is_chosen_when_its_examples_match_better_than_none(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    actions = (*BOOTSTRAP_ACTIONS, SEND_TOKEN)
    chosen = await _respond(model, await _state(minilm, "send 2 ETH to alice.eth", actions=actions))
    assert chosen.actions == ("SEND_TOKEN",)
    assert chosen.text
    asked = await _respond(
        model, await _state(minilm, "what is the weather like?", actions=actions)
    )
    assert asked.actions == ("NONE",)


async def test_none_is_the_default_when_no_action_is_offered(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    content = await _respond(model, await _state(minilm, "shut up", actions=()))
    assert content.actions == ("NONE",)
    assert content.text


# ------------------------------------------------------------------ recall


async def test_where_do_i_live_is_answered_from_a_stored_fact(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    facts = [
        await _memory(minilm, "Ada lives in Lisbon", key="lives_in"),
        await _memory(minilm, "Ada works at Google", key="works_at"),
        await _memory(minilm, "Bob lives in Paris", key="lives_in", entity=OTHER_USER),
    ]
    state = await _state(minilm, "where do I live?", facts=facts, values={"senderName": "Ada"})
    content = await _respond(model, state)
    assert content.text == "You told me you live in Lisbon."
    assert content.actions == ("NONE",)
    assert "fact 'Ada lives in Lisbon'" in content.thought


async def test_a_fact_as_the_store_gives_it_without_vector_or_key_is_recalled(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    facts = [await _memory(minilm, "The user works at Google", with_vector=False)]
    state = await _state(minilm, "do you remember where I work?", facts=facts)
    assert (await _respond(model, state)).text == "You told me you work at Google."


async def test_every_liking_is_recalled_in_second_person(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    facts = [
        await _memory(minilm, "The user likes cats", key="likes:cats"),
        await _memory(minilm, "The user's favorite color is green", key="favorite:color"),
    ]
    liked = await _respond(model, await _state(minilm, "what do I like?", facts=facts))
    assert liked.text == "You told me you like cats."
    color = await _respond(model, await _state(minilm, "what's my favorite color?", facts=facts))
    assert color.text == "You told me your favorite color is green."


async def test_an_earlier_statement_of_the_user_is_recalled(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    memories = [
        await _memory(minilm, "I have a dog named Rex and I love him", table="messages"),
        await _memory(minilm, "I have a cat named Tom", table="messages", entity=OTHER_USER),
    ]
    content = await _respond(model, await _state(minilm, "do I have any pets?", memories=memories))
    assert content.text == "You told me you have a dog named Rex."
    assert "memory" in content.thought


async def test_a_question_about_the_user_with_no_fact_says_so(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    memories = [await _memory(minilm, "I have a dog named Rex", table="messages")]
    state = await _state(minilm, "what's my name?", memories=memories)
    assert (await _respond(model, state)).text == "You haven't told me your name yet."


# ------------------------------------------------------------------ knowledge, examples


async def test_a_question_is_answered_from_the_best_knowledge_passage(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    knowledge = [
        await _memory(minilm, KESSEL, table="documents", entity=AGENT),
        await _memory(minilm, "Trams in Lisbon run from early morning.", table="documents"),
    ]
    state = await _state(
        minilm, "how fast did the Falcon make the Kessel Run?", knowledge=knowledge
    )
    content = await _respond(model, state)
    assert "twelve parsecs" in content.text
    assert len(content.text) <= 330
    assert "knowledge" in content.thought


async def test_a_real_characters_example_answers_a_matching_question(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    path = real_character("trump")
    trump = load_character(path)
    document = json.loads(path.read_text())
    border = next(c for c in document["messageExamples"] if "border" in c[0]["content"]["text"])
    state = await _state(minilm, "What do you think about the border?", character=trump)
    content = await _respond(model, state)
    assert content.text == border[1]["content"]["text"]
    assert "message example 'What about the border crisis?'" in content.thought


async def test_an_example_reply_names_the_speaker_or_says_you(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    named = await _state(minilm, "do you remember me?", values={"senderName": "Ada"})
    assert (await _respond(model, named)).text == "Of course, Ada! Good to see you again."
    unnamed = await _state(minilm, "do you remember me?", values={"senderName": USER})
    assert (await _respond(model, unnamed)).text == "Of course, you! Good to see you again."


async def test_a_statement_the_rules_read_is_acknowledged(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    intro = await _state(minilm, "Hi! My name is Ada and I live in Lisbon.")
    content = await _respond(model, intro)
    assert content.text == "Nice to meet you, Ada. Good to know: you live in Lisbon."
    moved = await _respond(model, await _state(minilm, "I moved to Porto last week"))
    assert moved.text == "Good to know: you live in Porto."


@pytest.mark.parametrize("name", ["c3po", "dobby", "eternalai", "trump"])
async def test_the_fallback_is_short_in_character_and_never_empty(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, name: str
) -> None:
    character = load_character(real_character(name))
    content = await _respond(model, await _state(minilm, "zxcv qwerty", character=character))
    assert content.text.strip()
    assert len(content.text) < 240
    assert "fallback" in content.thought
    if name == "dobby":  # "Speaks in third person"
        assert "Dobby" in content.text
        assert " I " not in f" {content.text} "
    if name == "eternalai":  # every example reply is lowercase
        assert content.text == content.text.lower()


# ------------------------------------------------------------------ continue, stream


async def test_continue_says_what_is_left_then_that_nothing_is(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    knowledge = [await _memory(minilm, KESSEL, table="documents", entity=AGENT)]
    question = "tell me about the Kessel Run"
    first = await _respond(
        model, await _state(minilm, question, knowledge=knowledge), Purpose.CONTINUE
    )
    assert "Kessel" in first.text
    assert first.actions == ()
    said = await _memory(minilm, first.text, table="messages", entity=AGENT)
    second = await _respond(
        model,
        await _state(minilm, question, knowledge=knowledge, recent=[said]),
        Purpose.CONTINUE,
    )
    assert second.actions == ()
    assert second.text
    assert second.text != first.text


async def test_stream_pieces_join_to_the_whole_answer(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    state = await _state(minilm, "do you remember me?")
    request = ModelRequest(Purpose.RESPONSE, "", state)
    pieces = [piece async for piece in model.stream(request)]
    assert len(pieces) > 1
    assert "".join(pieces) == await model.complete(request)


async def test_the_same_state_gets_the_same_answer(minilm: MiniLmOnnxEmbedder) -> None:
    trump = load_character(real_character("trump"))
    for text in ("zxcv qwerty", "What do you think about the border?", "shut up"):
        state = await _state(minilm, text, character=trump)
        request = ModelRequest(Purpose.RESPONSE, "", state)
        answers = {await OfflineModel(minilm.embed).complete(request) for _ in range(2)}
        model = OfflineModel(minilm.embed)
        answers |= {await model.complete(request), await model.complete(request)}
        assert len(answers) == 1, text


async def test_example_and_action_embeddings_are_cached(minilm: MiniLmOnnxEmbedder) -> None:
    calls: list[int] = []

    async def counting(texts: Sequence[str]) -> Matrix:
        calls.append(len(texts))
        return await minilm.embed(texts)

    model = OfflineModel(counting)
    trump = load_character(real_character("trump"))
    await model.complete(
        ModelRequest(Purpose.RESPONSE, "", await _state(minilm, "hi", character=trump))
    )
    assert calls
    calls.clear()
    await model.complete(
        ModelRequest(Purpose.RESPONSE, "", await _state(minilm, "yo", character=trump))
    )
    assert calls == []


async def test_a_state_without_the_message_vector_is_embedded_here(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    state = await _state(minilm, "stop talking to me")
    bare = State(
        character=state.character,
        message=state.message,
        message_vector=np.zeros(0, np.float32),
        actions=state.actions,
    )
    assert (await _respond(model, bare)).actions == ("IGNORE",)


async def test_an_embedding_failure_is_a_model_failure(minilm: MiniLmOnnxEmbedder) -> None:
    async def broken(texts: Sequence[str]) -> Matrix:
        raise EmbeddingFailed("the MiniLM embedder is closed")

    state = await _state(minilm, "hello")
    with pytest.raises(ModelFailed, match="could not embed"):
        await OfflineModel(broken).complete(ModelRequest(Purpose.RESPONSE, "", state))


# ------------------------------------------------------------------ facts


async def test_statements_become_facts_with_keys(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    text = (
        "Hi, my name is Ada and I live in Lisbon. I work at Acme as a nurse, "
        "and my favorite color is green. I love jazz!"
    )
    ops = await _facts(model, await _state(minilm, text))
    assert [(op.op, op.key, op.claim) for op in ops] == [
        ("add", "name", "The user's name is Ada"),
        ("add", "lives_in", "Ada lives in Lisbon"),
        ("add", "works_at", "Ada works at Acme"),
        ("add", "works_as", "Ada works as a nurse"),
        ("add", "favorite:color", "Ada's favorite color is green"),
        ("add", "likes:jazz", "Ada loves jazz"),
    ]


async def test_a_known_value_changes_nothing(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    facts = [await _memory(minilm, "Ada lives in Lisbon", key="lives_in")]
    state = await _state(minilm, "I live in Lisbon", facts=facts, values={"senderName": "Ada"})
    assert await _facts(model, state) == []


async def test_a_new_value_updates_the_known_fact(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    lisbon = await _memory(minilm, "Ada lives in Lisbon", key="lives_in")
    state = await _state(
        minilm, "I moved to Porto last month", facts=[lisbon], values={"senderName": "Ada"}
    )
    assert await _facts(model, state) == [
        FactOp(op="update", id=lisbon.id, claim="Ada lives in Porto", key="lives_in")
    ]


@pytest.mark.parametrize(
    ("text", "fact", "key"),
    [
        ("I don't live in Lisbon anymore", "Ada lives in Lisbon", "lives_in"),
        ("I no longer work at Google.", "The user works at Google", "works_at"),
        ("I quit my job", "The user works at Google", "works_at"),
        ("I don't like cats anymore", "The user likes cats", "likes:cats"),
    ],
)
async def test_a_retraction_deletes_the_known_fact(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, text: str, fact: str, key: str
) -> None:
    known = await _memory(minilm, fact, key=key)
    assert await _facts(model, await _state(minilm, text, facts=[known])) == [
        FactOp(op="delete", id=known.id)
    ]


async def test_a_retraction_of_another_value_deletes_nothing(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    known = await _memory(minilm, "Ada lives in Lisbon", key="lives_in")
    state = await _state(minilm, "I don't live in Paris anymore", facts=[known])
    assert await _facts(model, state) == []


async def test_facts_with_llm_keys_or_no_key_are_matched_by_meaning(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    job = await _memory(minilm, "Sam works as a nurse", key="sam.job")
    cats = await _memory(minilm, "The user likes cats")
    state = await _state(
        minilm,
        "I work as a teacher now. I hate cats.",
        facts=[job, cats],
        values={"senderName": "Sam"},
    )
    assert await _facts(model, state) == [
        FactOp(op="update", id=job.id, claim="Sam works as a teacher", key="works_as"),
        FactOp(op="update", id=cats.id, claim="Sam hates cats", key="dislikes:cats"),
    ]


async def test_another_users_fact_is_never_changed(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    bobs = await _memory(minilm, "Bob lives in Paris", key="lives_in", entity=OTHER_USER)
    ops = await _facts(model, await _state(minilm, "I live in Paris", facts=[bobs]))
    assert ops == [FactOp(op="add", claim="The user lives in Paris", key="lives_in")]


@pytest.mark.parametrize(
    "text",
    [
        "do I live in Lisbon?",
        "I'm tired",
        "I'm American",
        "I'd like a coffee",
        "I love you",
        "I have a question",
        "I think I live in Lisbon",
        "If I lived in Paris I would be happy",
    ],
)
async def test_questions_moods_and_wishes_are_no_facts(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder, text: str
) -> None:
    assert await _facts(model, await _state(minilm, text)) == []


async def test_the_agents_own_message_gives_no_facts(
    model: OfflineModel, minilm: MiniLmOnnxEmbedder
) -> None:
    state = await _state(minilm, "I live in the cloud", entity=AGENT)
    assert await _facts(model, state) == []


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("I'm Ada", "name", "Ada"),
        ("call me Ishmael.", "name", "Ishmael"),
        ("im from brazil", "from", "Brazil"),
        ("I moved from Paris to Lisbon.", "lives_in", "Lisbon"),
        ("i live in new york city with my wife", "lives_in", "New York City"),
        ("my birthday is on March 3rd", "birthday", "March 3rd"),
        ("I have a dog named Rex", "has:dog named rex", "a dog named Rex"),
        ("I'm 34 years old", "age", "34"),
        ("I'm a big fan of the Beatles", "likes:beatles", "likes the Beatles"),
    ],
)
def test_the_rules_read_first_person_statements(text: str, key: str, value: str) -> None:
    claims = claims_in(text)
    assert [(c.key, c.value) for c in claims] == [(key, value)]


@pytest.mark.parametrize(
    ("fact", "said"),
    [
        ("Ada lives in Lisbon", "you live in Lisbon"),
        ("The user's name is Ada", "your name is Ada"),
        ("The user is from Brazil", "you are from Brazil"),
        ("Ada really likes her cats", "you really like your cats"),
        ("The user doesn't like cilantro", "you don't like cilantro"),
        ("The cat is black", "The cat is black"),
    ],
)
def test_facts_are_said_back_in_second_person(fact: str, said: str) -> None:
    assert second_person(fact, ["Ada"]) == said


def test_the_users_words_are_said_back_with_persons_swapped() -> None:
    assert swap_persons("I told you I am moving to my new flat") == (
        "you told me you are moving to your new flat"
    )
