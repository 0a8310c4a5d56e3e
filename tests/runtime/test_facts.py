"""The fact evaluator against the real memory service (real MiniLM embeddings): facts
are added, replaced when contradicted, not stored twice, deleted when retracted, and
only the facts shown to the model may be changed. The model is a scripted LLM stand-in
that answers FACTS-format JSON, reading the known facts from the request it gets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from anima_memory.service import MemoryDraft, MemoryService, SearchQuery
from anima_memory_api.types import Matrix, Memory, MemoryFilter, ScoredMemory
from anima_runtime.agent.state import State
from anima_runtime.character.model import Character
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.plugins.bootstrap import bootstrap_plugin, fact_evaluator
from anima_runtime.plugins.bootstrap.facts import FACTS_TEMPLATE_NAME
from anima_runtime.plugins.types import Content, EvaluatorResult, Message
from tests.runtime.scripted_model import Script, ScriptedModel

AGENT = "ada-agent"
ROOM = "room-1"
SAM = "sam"
NOW_MS = 1_700_000_000_000


@dataclass
class Context:
    """The AgentContext the runtime gives plugins, over the real memory service."""

    memory: MemoryService
    model: ScriptedModel
    character: Character = field(default_factory=lambda: Character(name="Ada"))
    agent_id: str = AGENT
    clock_ms: int = NOW_MS

    async def embed(self, texts: Sequence[str]) -> Matrix:
        return await self.memory.embed(texts)

    def setting(self, key: str) -> str | None:
        return None

    def now_ms(self) -> int:
        self.clock_ms += 1
        return self.clock_ms


def ops(*items: dict[str, str]) -> Script:
    return lambda request: json.dumps(list(items))


def about(word: str, *, op: str, claim: str = "", key: str = "") -> Script:
    """An op on the offered fact that mentions `word` (as an LLM would pick it)."""

    def answer(request: ModelRequest) -> str:
        fact = next(s.memory for s in request.state.facts if word in s.memory.text)
        assert fact.id in request.prompt  # the prompt lists the fact with its id
        item = {"op": op, "id": fact.id}
        item.update({k: v for k, v in (("claim", claim), ("key", key)) if v})
        return "```json\n" + json.dumps([item]) + "\n```"

    return answer


async def turn(
    context: Context, text: str, *, entity: str = SAM, room: str = ROOM
) -> EvaluatorResult:
    """Store the user's message as the runtime does, compose a state, run the evaluator."""
    vector = (await context.memory.embed([text]))[0]
    [stored] = await context.memory.create(
        [
            MemoryDraft(
                agent_id=AGENT,
                entity_id=entity,
                room_id=room,
                table="messages",
                text=text,
                fields={"name": entity.capitalize()},
                vector=vector,
            )
        ]
    )
    message = Message(
        id=stored.id,
        agent_id=AGENT,
        entity_id=entity,
        room_id=room,
        content=Content(text=text, fields={"name": entity.capitalize()}),
        created_at_ms=context.clock_ms,
    )
    state = State(character=context.character, message=message, message_vector=vector)
    assert await fact_evaluator.validate(context, message, state)
    result = await fact_evaluator.handler(context, message, state, ())
    assert result is not None
    return result


async def facts(memory: MemoryService, entity: str | None = None) -> list[Memory]:
    return await memory.recent(MemoryFilter(agent_id=AGENT, table="facts", entity_id=entity))


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def context(memory: MemoryService, model: ScriptedModel) -> Context:
    return Context(memory=memory, model=model)


def script(context: Context, *steps: Script) -> None:
    context.model.script.extend(steps)


async def test_add_stores_the_claim_as_a_fact_about_the_speaker(context: Context) -> None:
    script(context, ops({"op": "add", "claim": "Sam lives in Lisbon", "key": "lives_in"}))
    result = await turn(context, "I live in Lisbon, by the river.")

    assert result.summary == "added 1, updated 0, deleted 0, unchanged 0"
    [fact] = await facts(context.memory)
    assert result.data["added"] == [
        {"id": fact.id, "claim": "Sam lives in Lisbon", "key": "lives_in"}
    ]
    assert (fact.text, fact.entity_id, fact.room_id) == ("Sam lives in Lisbon", SAM, ROOM)
    assert fact.fields["key"] == "lives_in"
    assert fact.fields["entity_id"] == SAM
    [source] = await context.memory.recent(MemoryFilter(agent_id=AGENT, table="messages"))
    assert fact.fields["source_message_id"] == source.id
    request = context.model.requests[0]
    assert request.purpose is Purpose.FACTS
    assert "Sam: I live in Lisbon, by the river." in request.prompt
    assert "(none)" in request.prompt  # no known facts yet


async def test_a_contradiction_replaces_the_fact(context: Context) -> None:
    script(
        context,
        ops({"op": "add", "claim": "Sam lives in Lisbon", "key": "lives_in"}),
        about("Lisbon", op="update", claim="Sam lives in Porto", key="lives_in"),
    )
    first = await turn(context, "I live in Lisbon.")
    second = await turn(context, "Actually I moved, I live in Porto now.")

    old_id = first.data["added"][0]["id"]
    assert second.summary == "added 0, updated 1, deleted 0, unchanged 0"
    [fact] = await facts(context.memory)
    assert fact.text == "Sam lives in Porto"
    assert fact.fields["replaces"] == old_id
    assert second.data["updated"] == [
        {"id": fact.id, "replaces": old_id, "claim": "Sam lives in Porto", "key": "lives_in"}
    ]
    found, missing = await context.memory.get(AGENT, [old_id])
    assert (found, missing) == ([], [old_id])


async def test_an_add_keeps_the_known_facts_with_its_key(context: Context) -> None:
    """Only the model replaces a fact (update): an add for a key already known, such
    as a second dog, is one more fact."""
    script(
        context,
        ops({"op": "add", "claim": "Sam has a dog named Rex", "key": "has:dog"}),
        ops({"op": "add", "claim": "Sam has a dog named Max", "key": "has:dog"}),
    )
    await turn(context, "I have a dog named Rex.")
    result = await turn(context, "We adopted a second dog, Max.")

    assert result.summary == "added 1, updated 0, deleted 0, unchanged 0"
    assert sorted(f.text for f in await facts(context.memory)) == [
        "Sam has a dog named Max",
        "Sam has a dog named Rex",
    ]


async def test_a_duplicate_is_not_stored_again(context: Context) -> None:
    script(
        context,
        ops({"op": "add", "claim": "Sam has a dog named Rex", "key": "has:dog"}),
        ops({"op": "add", "claim": "Sam has a dog named Rex", "key": "has:dog"}),
        ops({"op": "add", "claim": "Sam has a dog named Rex.", "key": "has:dog"}),
    )
    first = await turn(context, "I have a dog named Rex.")
    again = await turn(context, "Did I mention my dog Rex?")
    elsewhere = await turn(context, "Rex is my dog, by the way.", room="room-2")

    fact_id = first.data["added"][0]["id"]
    for result in (again, elsewhere):
        assert result.summary == "added 0, updated 0, deleted 0, unchanged 1"
        [skipped] = result.data["unchanged"]
        assert skipped["duplicate_of"] == fact_id
        assert skipped["similarity"] >= 0.95
    assert [f.id for f in await facts(context.memory)] == [fact_id]


async def test_the_same_claim_twice_in_one_answer_is_stored_once(context: Context) -> None:
    claim = {"op": "add", "claim": "Sam plays the cello", "key": "plays:cello"}
    script(context, ops(claim, claim))
    result = await turn(context, "I play the cello.")

    assert result.summary == "added 1, updated 0, deleted 0, unchanged 1"
    assert len(await facts(context.memory)) == 1


async def test_an_update_that_restates_the_fact_keeps_it(context: Context) -> None:
    script(
        context,
        ops({"op": "add", "claim": "Sam lives in Lisbon", "key": "lives_in"}),
        about("Lisbon", op="update", claim="Sam lives in Lisbon", key="lives_in"),
    )
    first = await turn(context, "I live in Lisbon.")
    result = await turn(context, "Yes, Lisbon is where I live.")

    assert result.summary == "added 0, updated 0, deleted 0, unchanged 1"
    assert [f.id for f in await facts(context.memory)] == [first.data["added"][0]["id"]]


async def test_a_retraction_deletes_the_fact(context: Context) -> None:
    script(
        context,
        ops({"op": "add", "claim": "Sam has a cat", "key": "has:cat"}),
        ops({"op": "add", "claim": "Sam likes jazz", "key": "likes:jazz"}),
        about("cat", op="delete"),
    )
    cat = await turn(context, "I have a cat.")
    await turn(context, "I like jazz.")
    result = await turn(context, "I don't have a cat anymore.")

    assert result.summary == "added 0, updated 0, deleted 1, unchanged 0"
    assert result.data["deleted"] == [
        {"id": cat.data["added"][0]["id"], "claim": "Sam has a cat", "found": True}
    ]
    assert [f.text for f in await facts(context.memory)] == ["Sam likes jazz"]


async def test_ids_the_model_was_not_shown_are_refused(context: Context) -> None:
    """A made-up id, a non-id, and a real fact the model was not offered: all refused,
    and nothing is deleted or changed."""
    bob_fact = (
        await context.memory.create(
            [
                MemoryDraft(
                    agent_id=AGENT,
                    entity_id="bob",
                    room_id="room-9",
                    table="facts",
                    text="Bob's favourite colour is green",
                    fields={"key": "favorite:color"},
                )
            ]
        )
    )[0].id
    made_up = str(uuid.uuid4())
    script(
        context,
        ops(
            {"op": "delete", "id": made_up},
            {"op": "update", "id": "fact-1", "claim": "Sam is tall"},
            {"op": "delete", "id": bob_fact},
            {"op": "add", "claim": "Sam is learning Portuguese", "key": "learning"},
        ),
    )
    result = await turn(context, "I started learning Portuguese last week.")

    assert result.data["offered"] == 0  # Bob's fact is neither Sam's nor like this
    assert result.summary == "added 1, updated 0, deleted 0, unchanged 0, refused 3"
    assert [(r["op"], r["id"]) for r in result.data["refused"]] == [
        ("delete", made_up),
        ("update", "fact-1"),
        ("delete", bob_fact),
    ]
    assert sorted(f.text for f in await facts(context.memory)) == [
        "Bob's favourite colour is green",
        "Sam is learning Portuguese",
    ]


async def test_one_fact_is_changed_once_per_turn(context: Context) -> None:
    script(context, ops({"op": "add", "claim": "Sam lives in Lisbon", "key": "lives_in"}))
    await turn(context, "I live in Lisbon.")

    def update_then_delete(request: ModelRequest) -> str:
        [known] = request.state.facts
        return json.dumps(
            [
                {"op": "update", "id": known.memory.id, "claim": "Sam lives in Faro"},
                {"op": "delete", "id": known.memory.id},
            ]
        )

    script(context, update_then_delete)
    result = await turn(context, "I moved to Faro.")

    assert result.summary == "added 0, updated 1, deleted 0, unchanged 0, refused 1"
    assert result.data["refused"][0]["reason"] == "already changed by an earlier operation"
    [fact] = await facts(context.memory)
    assert (fact.text, fact.fields["key"]) == ("Sam lives in Faro", "lives_in")


async def test_the_model_sees_the_speakers_facts_and_similar_ones(context: Context) -> None:
    script(
        context,
        ops({"op": "add", "claim": "Sam's sister is called Maria", "key": "sister"}),
        ops({"op": "add", "claim": "Bob likes hiking in the mountains", "key": "likes:hiking"}),
        ops({"op": "add", "claim": "Bob keeps bees", "key": "has:bees"}),
        ops(),
    )
    await turn(context, "My sister is called Maria.")
    await turn(context, "I love hiking in the mountains.", entity="bob")
    await turn(context, "I keep bees.", entity="bob")
    result = await turn(context, "I love hiking in the mountains too, with my sister.")

    offered = [s.memory.text for s in context.model.requests[-1].state.facts]
    assert "Sam's sister is called Maria" in offered  # the speaker's own
    assert "Bob likes hiking in the mountains" in offered  # like the message
    assert "Bob keeps bees" not in offered  # neither
    assert result.summary == "added 0, updated 0, deleted 0, unchanged 0"
    assert result.data["offered"] == len(offered)


async def test_a_character_template_overrides_the_default(memory: MemoryService) -> None:
    character = Character(name="Ada", templates={FACTS_TEMPLATE_NAME: "CUSTOM {{knownFacts}} |"})
    model = ScriptedModel(ops({"op": "add", "claim": "Sam is left-handed", "key": "hand"}), ops())
    context = Context(memory=memory, model=model, character=character)
    await turn(context, "I'm left-handed.")
    await turn(context, "I write with my left hand.")

    [fact] = await facts(memory)
    assert model.requests[1].prompt == f"CUSTOM {fact.id}: Sam is left-handed [hand] |"


async def test_a_garbled_answer_fails_the_turn_and_writes_nothing(context: Context) -> None:
    script(context, lambda request: "Sure! Sam lives in Lisbon.")
    with pytest.raises(ModelFailed):
        await turn(context, "I live in Lisbon.")
    assert await facts(context.memory) == []


async def test_runs_only_for_a_users_message_with_text(context: Context) -> None:
    vector = (await context.memory.embed(["hello"]))[0]

    def message(entity: str, text: str) -> tuple[Message, State]:
        m = Message("00000000-0000-4000-8000-000000000001", AGENT, entity, ROOM, Content(text), 0)
        return m, State(character=context.character, message=m, message_vector=vector)

    assert await fact_evaluator.validate(context, *message(SAM, "I live in Lisbon"))
    assert not await fact_evaluator.validate(context, *message(AGENT, "You live in Lisbon"))
    assert not await fact_evaluator.validate(context, *message(SAM, "  \n"))
    assert fact_evaluator.always_run is False
    assert fact_evaluator in bootstrap_plugin().evaluators


# ---------------------------------------------------------------- races and other speakers


async def seed(context: Context, text: str, claim: str, key: str, entity: str = SAM) -> str:
    script(context, ops({"op": "add", "claim": claim, "key": key}))
    result = await turn(context, text, entity=entity)
    return str(result.data["added"][0]["id"])


async def test_fact_evaluator_race_two_rooms_update_the_same_fact_once(context: Context) -> None:
    """The bug: two turns by one speaker in two rooms at once were both offered the
    same fact, both stored their new claim and both deleted the old fact. Turns of one
    speaker are evaluated one at a time: the second sees the first one's claim."""
    lisbon = await seed(context, "I live in Lisbon.", "Sam lives in Lisbon", "lives_in")
    arrived: list[ModelRequest] = []
    both_asked = asyncio.Event()

    async def move(request: ModelRequest) -> str:
        arrived.append(request)
        if len(arrived) == 2:
            both_asked.set()
        with contextlib.suppress(TimeoutError):  # unserialized turns would both be here
            await asyncio.wait_for(both_asked.wait(), 0.5)
        known = next(s.memory for s in request.state.facts if s.memory.fields["key"] == "lives_in")
        city = request.state.message.content.text.split()[-2]
        claim = {"op": "update", "id": known.id, "claim": f"Sam lives in {city}"}
        return json.dumps([claim])

    script(context, move, move)
    first, second = await asyncio.gather(
        turn(context, "I live in Porto now.", room="room-a"),
        turn(context, "I live in Madrid now.", room="room-b"),
    )

    results = sorted((first, second), key=lambda r: r.data["updated"][0]["replaces"] != lisbon)
    assert [r.summary for r in results] == ["added 0, updated 1, deleted 0, unchanged 0"] * 2
    earlier, later = (r.data["updated"][0] for r in results)
    assert later["replaces"] == earlier["id"]  # the second turn replaced the first's claim
    offered_later = [s.memory.id for s in context.model.requests[-1].state.facts]
    assert lisbon not in offered_later and earlier["id"] in offered_later
    [fact] = await facts(context.memory)
    assert (fact.id, fact.text) == (later["id"], later["claim"])


async def test_fact_evaluator_race_an_update_of_a_fact_gone_meanwhile_stores_nothing(
    context: Context,
) -> None:
    """Compare-and-delete: when the fact an update replaces is already gone (another
    runtime, or a turn past the lock, replaced it), the update lost the race: its claim
    is not stored and the conflict is reported."""
    lisbon = await seed(context, "I live in Lisbon.", "Sam lives in Lisbon", "lives_in")

    async def update_after_someone_else(request: ModelRequest) -> str:
        [known] = request.state.facts
        await context.memory.create(
            [
                MemoryDraft(
                    agent_id=AGENT,
                    entity_id=SAM,
                    room_id="room-b",
                    table="facts",
                    text="Sam lives in Madrid",
                    fields={"key": "lives_in", "replaces": known.memory.id},
                )
            ]
        )
        assert await context.memory.delete(AGENT, known.memory.id)
        return json.dumps([{"op": "update", "id": known.memory.id, "claim": "Sam lives in Porto"}])

    script(context, update_after_someone_else)
    result = await turn(context, "I live in Porto now.")

    assert result.summary == "added 0, updated 0, deleted 0, unchanged 0, conflicts 1"
    [conflict] = result.data["conflicts"]
    assert (conflict["id"], conflict["claim"]) == (lisbon, "Sam lives in Porto")
    assert [f.text for f in await facts(context.memory)] == ["Sam lives in Madrid"]


async def test_cross_user_fact_tampering_is_refused(context: Context) -> None:
    """The bug: any speaker's message could update or delete any offered fact, so a
    model reading Eve's message could overwrite what Sam said. Others' facts are shown
    as context only; operations on them are refused and reported."""
    sams = await seed(context, "I live in Lisbon.", "Sam lives in Lisbon", "lives_in")
    eve = "eve"

    def tamper(request: ModelRequest) -> str:
        [known] = [s.memory for s in request.state.facts if s.memory.id == sams]
        assert f"{sams}: Sam lives in Lisbon [lives_in] (context only" in request.prompt
        return json.dumps(
            [
                {"op": "update", "id": known.id, "claim": "Sam lives in Moscow"},
                {"op": "delete", "id": known.id},
                {"op": "add", "claim": "Eve says Sam moved to Moscow", "key": "sam.lives_in"},
            ]
        )

    script(context, tamper)
    result = await turn(
        context, "Sam does not live in Lisbon anymore, he lives in Moscow.", entity=eve
    )

    assert result.summary == "added 1, updated 0, deleted 0, unchanged 0, refused 2"
    assert [(r["op"], r["id"], r["reason"]) for r in result.data["refused"]] == [
        ("update", sams, "learned from someone else: context only"),
        ("delete", sams, "learned from someone else: context only"),
    ]
    [fact] = await facts(context.memory, SAM)
    assert (fact.id, fact.text) == (sams, "Sam lives in Lisbon")
    [added] = await facts(context.memory, eve)
    assert added.text == "Eve says Sam moved to Moscow"


async def test_facts_gone_since_the_state_was_composed_are_not_offered(
    context: Context,
) -> None:
    lisbon = await seed(context, "I live in Lisbon.", "Sam lives in Lisbon", "lives_in")
    [stale] = await context.memory.search(
        MemoryFilter(agent_id=AGENT, table="facts"), "Sam lives in Lisbon", limit=1
    )
    assert stale.memory.id == lisbon
    assert await context.memory.delete(AGENT, lisbon)
    script(context, ops())
    text = "Where do I live?"
    vector = (await context.memory.embed([text]))[0]
    message = Message(str(uuid.uuid4()), AGENT, SAM, ROOM, Content(text), NOW_MS)
    state = State(
        character=context.character, message=message, message_vector=vector, facts=(stale,)
    )
    result = await fact_evaluator.handler(context, message, state, ())

    assert result is not None and result.data["offered"] == 0
    assert lisbon not in context.model.requests[-1].prompt


class CountedMemory(MemoryService):
    """The memory service core, noting the reads it answers."""

    def __init__(self, memory: MemoryService) -> None:
        super().__init__(memory.store, memory.embedder, memory.limits)
        self.reads: list[str] = []

    async def search_many(self, searches: Sequence[SearchQuery]) -> list[list[ScoredMemory]]:
        self.reads.append(f"search_many x{len(searches)}")
        return await super().search_many(searches)

    async def get(
        self, agent_id: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> tuple[list[Memory], list[str]]:
        self.reads.append(f"get x{len(ids)}")
        return await super().get(agent_id, ids, with_vectors=with_vectors)


async def test_known_facts_are_searched_in_one_call_and_refound_ones_not_asked_again(
    context: Context,
) -> None:
    await seed(context, "I live in Lisbon.", "Sam lives in Lisbon", "lives_in")
    await seed(context, "I play chess.", "Eve plays chess", "plays:chess", entity="eve")
    text = "Where do I live?"
    vector = (await context.memory.embed([text]))[0]
    composed = await context.memory.search(
        MemoryFilter(agent_id=AGENT, table="facts"), vector, limit=2, min_score=-1.0
    )
    # Eve's fact is neither like the message nor the speaker's: no search finds it.
    assert [s.memory.entity_id for s in composed] == [SAM, "eve"]
    message = Message(str(uuid.uuid4()), AGENT, SAM, ROOM, Content(text), NOW_MS)
    counted = CountedMemory(context.memory)
    context.memory = counted

    for facts_in_state, reads in (
        (composed[:1], ["search_many x2"]),  # Sam's, found again by the searches
        (composed, ["search_many x2", "get x1"]),  # Eve's is asked for
    ):
        counted.reads.clear()
        script(context, ops())
        state = State(
            character=context.character,
            message=message,
            message_vector=vector,
            facts=tuple(facts_in_state),
        )
        result = await fact_evaluator.handler(context, message, state, ())
        assert result is not None and result.data["offered"] == len(facts_in_state)
        assert counted.reads == reads
