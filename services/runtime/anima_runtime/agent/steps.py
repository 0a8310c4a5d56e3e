"""The actions a response chose and the evaluators after it, run for one turn.

Each gives an `Outcome`: what its log entry says. A plugin that fails (raises,
runs past its time limit, returns something else) is an outcome with ok=false
and the type and message of its error, never a traceback; the turn goes on.

NONE and IGNORE are always among the actions: the response format names them.
The runtime's own and the bootstrap plugin's are *silent*: they neither act on
the world nor send a message, which lets a turn that chose only them log its
decision together with what followed (loop.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from anima_runtime.agent.compose import describe_error
from anima_runtime.agent.payloads import Redactor, loggable
from anima_runtime.agent.progress import Turn
from anima_runtime.agent.state import State
from anima_runtime.errors import PluginFailed
from anima_runtime.plugins.bootstrap.actions import ignore_action, none_action
from anima_runtime.plugins.types import (
    Action,
    ActionResult,
    AgentContext,
    Content,
    Evaluator,
    EvaluatorResult,
    HandlerCallback,
    Message,
    Plugin,
)

logger = logging.getLogger(__name__)

IGNORE = "IGNORE"
NONE = "NONE"

#: Sends one message of the agent's for an action (redacted, stored, and logged as a
#: RESPONSE).
Say = Callable[[Turn, Content, dict[str, Any]], Awaitable[None]]


async def _nothing(
    context: AgentContext, message: Message, state: State, callback: HandlerCallback
) -> ActionResult | None:
    return None


#: Taken when no plugin defines them: the response format names them.
BUILTIN_ACTIONS = (
    Action(
        name=NONE,
        description="Reply, and take no other action.",
        handler=_nothing,
        similes=("NO_ACTION", "REPLY", "RESPOND"),
    ),
    Action(
        name=IGNORE,
        description="Send no reply: the message is not for you, or the conversation is over.",
        handler=_nothing,
        similes=("STOP_TALKING",),
    ),
)

#: Handlers known to do nothing but return (by identity: a plugin's own NONE is not).
_SILENT_HANDLERS = frozenset({_nothing, none_action.handler, ignore_action.handler})


@dataclass(frozen=True, slots=True)
class Outcome:
    """An action's or evaluator's result, before its entry is appended."""

    name: str
    ok: bool
    text: str  # the action's text or the evaluator's summary; the error when not ok
    data: Mapping[str, Any]
    document: dict[str, Any]  # the entry's payload (redacted)


@dataclass(frozen=True, slots=True)
class Choice:
    """What one action name in a response comes to for this message."""

    requested: str
    name: str  # the action's own name; as requested when there is none
    action: Action | None  # None: nothing runs
    problem: str = ""  # why nothing runs

    @property
    def silent(self) -> bool:
        """It neither acts on the world nor sends a message."""
        return self.action is None or self.action.handler in _SILENT_HANDLERS


def choose(by_name: Mapping[str, Action], state: State, requested: str) -> Choice:
    """The action `requested` names (by name or simile), if it may run for this message."""
    action = by_name.get(requested.upper())
    if action is None:
        return Choice(requested, requested, None, "unknown action")
    if all(a.name != action.name for a in state.actions):
        return Choice(requested, action.name, None, "not valid for this message")
    return Choice(requested, action.name, action)


def make_outcome(
    redactor: Redactor,
    name: str,
    ok: bool,
    text: str,
    data: Mapping[str, Any],
    document: dict[str, Any],
) -> Outcome:
    """`document` (the entry's payload) gets the name, ok and data; secrets go."""
    text = redactor.text(text)
    data = redactor.document(loggable(data))
    document = redactor.document(document | {"name": name, "ok": ok, "data": data})
    return Outcome(name=name, ok=ok, text=text, data=data, document=document)


async def run_action(
    context: AgentContext,
    turn: Turn,
    choice: Choice,
    *,
    redactor: Redactor,
    say: Say,
    timeout_s: float,
) -> Outcome:
    base = {"in_reply_to": turn.message.id, "requested": choice.requested}

    def outcome(ok: bool, text: str, data: Mapping[str, Any] | None = None) -> Outcome:
        return make_outcome(redactor, choice.name, ok, text, data or {}, base | {"text": text})

    action = choice.action
    if action is None:
        return outcome(False, choice.problem)
    state = turn.state
    assert state is not None
    answered = False

    async def callback(content: Content) -> None:
        if answered:
            raise PluginFailed(f"action {action.name} sent a message after it returned")
        text = content.text.strip()  # redacted with the rest when it is sent (say)
        if not text:
            raise PluginFailed(f"action {action.name} sent a message without text")
        said: dict[str, Any] = {
            "in_reply_to": turn.message.id,
            "action": action.name,
            "thought": content.thought,
            "actions": list(content.actions),
        }
        await say(turn, Content(text=text, actions=content.actions, fields=content.fields), said)

    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            result = await action.handler(context, turn.message, state, callback)
    except Exception as exc:
        return outcome(False, _failure(exc, deadline, timeout_s))
    finally:
        answered = True
    if result is None:
        return outcome(True, "")
    if not isinstance(result, ActionResult):
        return outcome(False, f"the handler returned {type(result).__name__}, not an ActionResult")
    return outcome(result.success, result.text, result.data)


async def evaluate(
    context: AgentContext,
    turn: Turn,
    evaluator: Evaluator,
    *,
    redactor: Redactor,
    timeout_s: float,
) -> Outcome | None:
    """The evaluator's outcome, or None when it does not apply to this turn."""
    state = turn.state
    assert state is not None
    base = {"in_reply_to": turn.message.id}

    def outcome(ok: bool, summary: str, data: Mapping[str, Any] | None = None) -> Outcome:
        document = base | {"summary": summary}
        return make_outcome(redactor, evaluator.name, ok, summary, data or {}, document)

    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            if not evaluator.always_run and not await evaluator.validate(
                context, turn.message, state
            ):
                return None
            result = await evaluator.handler(context, turn.message, state, tuple(turn.replies))
    except Exception as exc:
        return outcome(False, _failure(exc, deadline, timeout_s))
    if result is None:
        return outcome(True, "")
    if not isinstance(result, EvaluatorResult):
        return outcome(False, f"the handler returned {type(result).__name__}, not a result")
    return outcome(True, result.summary, result.data)


def _failure(exc: Exception, deadline: asyncio.Timeout, timeout_s: float) -> str:
    """What a caller may see of a plugin's failure (PluginFailed): no traceback."""
    if isinstance(exc, TimeoutError) and deadline.expired():
        return f"no result within {timeout_s:g} s"
    return describe_error(exc)


# ------------------------------------------------------------------ registration


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def unique(kind: str, parts: Sequence[N]) -> list[N]:
    """The first of each name (case-insensitive), as ElizaOS registers them."""
    kept: dict[str, N] = {}
    for part in parts:
        if part.name.upper() in kept:
            logger.warning("a second %s named %s is ignored", kind, part.name)
        else:
            kept[part.name.upper()] = part
    return list(kept.values())


def register_actions(plugins: Sequence[Plugin]) -> tuple[tuple[Action, ...], dict[str, Action]]:
    """Every action, and each by its name and its similes (upper case; names first)."""
    actions = unique("action", [a for p in plugins for a in p.actions])
    names = {a.name.upper() for a in actions}
    actions += [a for a in BUILTIN_ACTIONS if a.name not in names]
    by_name = {a.name.upper(): a for a in actions}
    for action in actions:
        for simile in action.similes:
            by_name.setdefault(simile.upper(), action)
    return tuple(actions), by_name
