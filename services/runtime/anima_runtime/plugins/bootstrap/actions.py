"""The bootstrap actions every agent has (ElizaOS plugin-bootstrap): CONTINUE, IGNORE
and NONE.

Their examples are conversations as ElizaOS writes them: `{{user1}}` is whoever
talks to the agent, `{{agentName}}` the agent, and the agent's line names the
action it chose. A model that is not an LLM picks an action by how close the
message is to the user lines before that action's lines (and to its similes),
so each action's examples cover the many ways people ask for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from anima_memory_api.types import Memory, MemoryFilter
from anima_runtime.agent.formats import parse_response
from anima_runtime.agent.prompts import CONTINUE_MESSAGE_HANDLER, CONTINUE_MESSAGE_HANDLER_TEMPLATE
from anima_runtime.agent.state import State
from anima_runtime.agent.templates import render, template_for
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.plugins.bootstrap.conversation import (
    actions_of,
    memory_line,
    message_line,
    one_line,
)
from anima_runtime.plugins.types import (
    Action,
    ActionResult,
    AgentContext,
    Content,
    ExampleLine,
    HandlerCallback,
    Message,
)

CONTINUE = "CONTINUE"
IGNORE = "IGNORE"
NONE = "NONE"

#: At most this many of the agent's latest messages in a row may have chosen CONTINUE.
MAX_CONTINUES_IN_A_ROW = 3

#: How many of the room's latest messages the continuation is written after.
CONTINUE_CONTEXT_MESSAGES = 20


def _user(text: str) -> ExampleLine:
    return ExampleLine(speaker="{{user1}}", text=text)


def _agent(text: str, action: str) -> ExampleLine:
    return ExampleLine(speaker="{{agentName}}", text=text, action=action)


def consecutive_continues(context: AgentContext, state: State) -> int:
    """How many of the agent's latest messages in the room chose CONTINUE in a row.

    Other speakers' messages do not break the run (as in ElizaOS): the agent
    goes back to plain answers before it may continue again.
    """
    count = 0
    for memory in reversed(state.recent):  # newest first
        if memory.entity_id != context.agent_id:
            continue
        if CONTINUE not in actions_of(memory):
            break
        count += 1
    return count


async def _continue_allowed(context: AgentContext, message: Message, state: State) -> bool:
    return consecutive_continues(context, state) < MAX_CONTINUES_IN_A_ROW


async def _continue(
    context: AgentContext, message: Message, state: State, callback: HandlerCallback
) -> ActionResult:
    """Ask the model for the next part of what the agent says, and send it.

    The conversation is read again from memory each time, so the model sees the
    response that chose CONTINUE and every part sent since (the runtime stores
    what the callback sends). Loops while a part itself asks to continue, within
    the limit; stops on an empty or repeated part. A part that will not be
    continued does not claim CONTINUE, so the record says what happened.
    """
    used = consecutive_continues(context, state)
    if used >= MAX_CONTINUES_IN_A_ROW:
        return ActionResult(
            success=False,
            text=f"not continuing: already {used} continues in a row",
            data={"sent": 0, "limit_reached": True},
        )
    template = template_for(
        context.character, CONTINUE_MESSAGE_HANDLER, CONTINUE_MESSAGE_HANDLER_TEMPLATE
    )
    sent: list[str] = []
    limit_reached = False
    while True:
        recent = await _room_messages(context, message)
        lines = _conversation_lines(context, recent, message, sent)
        values = {**state.values, "recentMessages": "# Conversation\n" + "\n".join(lines)}
        request = ModelRequest(
            purpose=Purpose.CONTINUE,
            prompt=render(template, values),
            state=replace(state, recent=recent),
        )
        content = parse_response(await context.model.complete(request))
        said = {one_line(m.text) for m in recent if m.entity_id == context.agent_id}
        if not content.text or one_line(content.text) in said | {one_line(t) for t in sent}:
            break
        wants_more = CONTINUE in content.actions
        may_more = used + len(sent) + 1 < MAX_CONTINUES_IN_A_ROW
        actions = content.actions if wants_more and may_more else _without_continue(content)
        await callback(Content(text=content.text, actions=actions, thought=content.thought))
        sent.append(content.text)
        if not wants_more:
            break
        if not may_more:
            limit_reached = True
            break
    return ActionResult(
        success=True,
        text="\n".join(sent),
        data={"sent": len(sent), "limit_reached": limit_reached},
    )


async def _room_messages(context: AgentContext, message: Message) -> tuple[Memory, ...]:
    newest_first = await context.memory.recent(
        MemoryFilter(agent_id=context.agent_id, room_id=message.room_id, table="messages"),
        CONTINUE_CONTEXT_MESSAGES,
    )
    return tuple(reversed(newest_first))


def _conversation_lines(
    context: AgentContext, recent: Sequence[Memory], message: Message, sent: Sequence[str]
) -> list[str]:
    """The room's messages, the incoming one if the store has not shown it yet, and
    the parts sent so far that are not stored yet."""
    lines = [memory_line(context, m) for m in recent if m.text.strip()]
    if all(m.id != message.id for m in recent):
        lines.append(message_line(context, message))
    stored = {one_line(m.text) for m in recent if m.entity_id == context.agent_id}
    name = context.character.name
    lines.extend(f"{name}: {one_line(t)}" for t in sent if one_line(t) not in stored)
    return lines


def _without_continue(content: Content) -> tuple[str, ...]:
    kept = tuple(a for a in content.actions if a != CONTINUE)
    return kept or (NONE,)


async def _ignore(
    context: AgentContext, message: Message, state: State, callback: HandlerCallback
) -> ActionResult:
    # The runtime sends nothing for a response that chose IGNORE; this marks it.
    return ActionResult(success=True, text="", data={"ignored": True})


async def _none(
    context: AgentContext, message: Message, state: State, callback: HandlerCallback
) -> ActionResult:
    return ActionResult(success=True, text="", data={})


continue_action = Action(
    name=CONTINUE,
    similes=("ELABORATE", "KEEP_TALKING", "GO_ON", "FOLLOW_UP", "SAY_MORE"),
    description=(
        "Continue speaking after this message: use it only when the answer needs a "
        "follow-up message, such as a step-by-step walkthrough, a story told in parts or a "
        "long list. Do not use it when the reply is complete, when asking the user a "
        "question, or when the user wants to stop (use IGNORE). Use sparingly; never "
        "continue more than a few times in a row."
    ),
    handler=_continue,
    validate=_continue_allowed,
    examples=(
        (
            _user("Can you walk me through setting up a hardware wallet, step by step?"),
            _agent(
                "Sure. Step one: buy it from the manufacturer directly and check the "
                "package has not been opened.",
                CONTINUE,
            ),
            _agent(
                "Step two: set a PIN, then write the recovery words on paper and keep "
                "them somewhere offline.",
                NONE,
            ),
        ),
        (
            _user("Tell me a story about a lighthouse keeper, take your time."),
            _agent(
                "Once there was a keeper named Ilse who talked to the gulls every evening.",
                CONTINUE,
            ),
            _agent(
                "One night the lamp failed, and the gulls gathered on the rail, crying "
                "until a ship turned away from the rocks.",
                NONE,
            ),
        ),
        (
            _user("Explain in detail how a Merkle tree proves that an entry is in a log."),
            _agent(
                "Each leaf is hashed, and pairs of hashes are hashed together up to a single root.",
                CONTINUE,
            ),
            _agent(
                "To prove an entry is included you only need the sibling hashes on its "
                "path to the root, so the proof grows with the log's logarithm.",
                NONE,
            ),
        ),
        (
            _user("Give me a full list of things to pack for a week of hiking."),
            _agent("Start with shelter: tent, sleeping bag, sleeping mat.", CONTINUE),
            _agent("Then water and food: filter, stove, fuel and a pot.", CONTINUE),
            _agent("Last, safety: map, headlamp, first-aid kit and a rain layer.", NONE),
        ),
        (
            _user("Go on, what happened next? Keep going, tell me more."),
            _agent("After the storm the harbour was quiet for days.", CONTINUE),
            _agent("Then the first boats came back, one at a time.", NONE),
        ),
        (
            _user("How do I make sourdough bread from scratch? Explain every step."),
            _agent("First feed your starter the night before so it is bubbly.", CONTINUE),
            _agent(
                "Next morning mix flour, water, salt and starter, fold it every half hour, "
                "then let it rise and bake it hot in a covered pot.",
                NONE,
            ),
        ),
        (
            _user("Write me a long poem in several parts about the sea."),
            _agent("Part one: grey water folding under a grey sky.", CONTINUE),
            _agent("Part two: a gull, a rope, a light far off.", NONE),
        ),
        (
            _user("What are all the pros and cons of renting versus buying a home?"),
            _agent("Renting first: it is flexible and repairs are not your job.", CONTINUE),
            _agent(
                "Buying builds equity and lets you change the place, but it ties up "
                "money and makes moving slow.",
                NONE,
            ),
        ),
    ),
)

ignore_action = Action(
    name=IGNORE,
    similes=("STOP_TALKING", "STOP_CHATTING", "STOP_CONVERSATION", "END_CONVERSATION"),
    description=(
        "Ignore the user and send no reply. Use it when the user is aggressive, abusive "
        "or creepy, when the user asks the agent to stop talking or to leave them alone, "
        "or when the conversation is over and both sides have already said goodbye. "
        "Never use it for a normal question or greeting."
    ),
    handler=_ignore,
    examples=(
        (
            _user("Go away, I don't want to talk to you anymore."),
            _agent("", IGNORE),
        ),
        (
            _user("Shut up. Stop replying to me, you useless bot."),
            _agent("", IGNORE),
        ),
        (
            _user("Thanks, that's all I needed. Bye!"),
            _agent("Glad to help. Bye!", NONE),
            _user("ok bye again, we're done here, no need to answer"),
            _agent("", IGNORE),
        ),
        (
            _user("I'm done with this conversation, leave me alone."),
            _agent("", IGNORE),
        ),
        (
            _user("You're an idiot and I hate you, send me your private photos."),
            _agent("", IGNORE),
        ),
        (
            _user("ok see you later, gotta go"),
            _agent("See you!", NONE),
            _user("I said I'm leaving, stop answering me"),
            _agent("", IGNORE),
        ),
    ),
)

none_action = Action(
    name=NONE,
    similes=("NO_ACTION", "NO_RESPONSE", "NO_REACTION", "REPLY", "RESPOND"),
    description=(
        "Reply to the message and do nothing else. This is the default when the agent "
        "answers, chats, asks a question back or acknowledges something without any other "
        "action."
    ),
    handler=_none,
    examples=(
        (
            _user("Hey, how's it going?"),
            _agent("Pretty good, thanks. What about you?", NONE),
        ),
        (
            _user("What do you think about the new season of that show?"),
            _agent("I liked the first half more; the ending felt rushed.", NONE),
        ),
        (
            _user("I just got back from a trip to Lisbon."),
            _agent("Nice! What was the best thing you ate there?", NONE),
        ),
        (
            _user("Do you know what time zone Tokyo is in?"),
            _agent("Japan Standard Time, nine hours ahead of UTC.", NONE),
        ),
        (
            _user("Thanks for the help earlier, it worked."),
            _agent("Great to hear. Anytime.", NONE),
        ),
        (
            _user("My name is Sam and I'm a nurse."),
            _agent("Nice to meet you, Sam. Long shifts?", NONE),
        ),
        (
            _user("What's your favourite movie?"),
            _agent("Probably Spirited Away. Yours?", NONE),
        ),
        (
            _user("Can you recommend a good book?"),
            _agent("Try The Left Hand of Darkness; it stays with you.", NONE),
        ),
        (
            _user("Where are you from?"),
            _agent("All over the internet, really. And you?", NONE),
        ),
        (
            _user("Good night, talk to you tomorrow! Bye"),
            _agent("Good night! Bye, talk soon.", NONE),
        ),
    ),
)

BOOTSTRAP_ACTIONS = (continue_action, ignore_action, none_action)
