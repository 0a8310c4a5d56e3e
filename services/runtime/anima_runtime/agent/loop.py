"""How one turn is answered (the ElizaOS message flow), every step in the log.

A turn: embed the message once, logging it (MESSAGE_IN) and asking for the
room's latest messages meanwhile; store it while the state is composed and the
model is asked; store the reply while what was heard becomes durable; then one
of two paths.

- The response chose an action that may act on the world or send a message
  (anything but the silent NONE and IGNORE, steps.py): the decision is logged
  (RESPONSE) before any action runs, so a signature an action asks the enclave
  for lands after the decision that chose it. The actions run in order (each
  message an action sends is stored and logged as a RESPONSE when it is sent),
  then the evaluators, then one append for the actions' and evaluators' entries.
- Only silent actions: they run, then the evaluators, while the reply is still
  being stored; one append logs the decision, the actions and the evaluators.

Either way a turn's entries are in the order MESSAGE_IN < RESPONSE < ACTION <
EVALUATOR, the agent does nothing before what it heard is durable, and nothing
it said is returned, or left in memory, unless it is logged (record.py).
Evaluators get the turn's replies as `responses`; on the silent path the room's
memory may not hold them yet. A plugin that fails is recorded (ok=false, type
and message of its error) and the turn goes on; a model that fails is recorded
and the caller gets ModelFailed. Each turn's phases are logged at DEBUG.

Every entry a turn appends is named in its TurnResult. The character's secrets
are kept out of everything a turn stores, logs or sends: what was heard comes
redacted (messages.py), the agent's messages are redacted when they are made
(record.py), every entry's payload when it is written (payloads.py), and every
prompt on its way to the model (progress.py, TimedModel).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from anima_memory_api.types import Matrix
from anima_runtime.agent.compose import compose_state, describe_error, room_history
from anima_runtime.agent.formats import parse_response
from anima_runtime.agent.limits import TurnLimits
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.payloads import Redactor
from anima_runtime.agent.progress import CURRENT_TURN, TimedModel, Turn
from anima_runtime.agent.prompts import MESSAGE_HANDLER, MESSAGE_HANDLER_TEMPLATE, render_prompt
from anima_runtime.agent.record import TurnRecord, logged_response, said, settle
from anima_runtime.agent.state import State
from anima_runtime.agent.steps import (
    IGNORE,
    Choice,
    Outcome,
    choose,
    evaluate,
    register_actions,
    run_action,
    unique,
)
from anima_runtime.agent.template_values import Persona
from anima_runtime.agent.templates import template_for
from anima_runtime.agent.turn import TurnResult
from anima_runtime.errors import ModelFailed
from anima_runtime.llm.base import ModelRequest, Purpose
from anima_runtime.log.service import AgentLog
from anima_runtime.plugins.types import Action, AgentContext, Content, Message, Plugin

logger = logging.getLogger(__name__)


class MessageLoop:
    """Answers one agent's messages, a turn per call (the caller keeps rooms in order)."""

    def __init__(
        self,
        *,
        context: AgentContext,
        memory: MemoryPort,
        model: TimedModel,
        redactor: Redactor,
        log: AgentLog,
        plugins: Sequence[Plugin],
        limits: TurnLimits,
        clock: Callable[[], int],
    ) -> None:
        self._context = context  # what plugins get; its embed and model count model time
        self._agent_id = context.agent_id
        self._model = model  # redacts every prompt
        self._limits = limits
        self._clock = clock
        self._last_stamp = 0
        character = context.character
        self._redactor = redactor
        self._record = TurnRecord(
            agent_id=self._agent_id,
            memory=memory,
            log=log,
            redactor=self._redactor,
            stamp=self._stamp,
        )
        self.actions: tuple[Action, ...]
        self.actions, self._by_name = register_actions(plugins)
        self._providers = unique("provider", [p for pl in plugins for p in pl.providers])
        self._evaluators = unique("evaluator", [e for pl in plugins for e in pl.evaluators])
        # What depends on the character alone is worked out once, not per message.
        self._persona = Persona.of(character, self.actions)
        self._template = template_for(character, MESSAGE_HANDLER, MESSAGE_HANDLER_TEMPLATE)

    async def answer(
        self, *, room_id: str, entity_id: str, text: str, user_name: str | None
    ) -> TurnResult:
        """Answer one checked (and redacted) message (check_message); the caller keeps
        rooms in order."""
        message = Message(
            id=str(uuid.uuid4()),
            agent_id=self._agent_id,
            entity_id=entity_id,
            room_id=room_id,
            content=Content(text=text, fields={"name": user_name} if user_name else {}),
            created_at_ms=self._stamp(),
        )
        turn = Turn(message=message, started=time.perf_counter())
        token = CURRENT_TURN.set(turn)
        try:
            result = await self._answer(turn, user_name)
        finally:
            CURRENT_TURN.reset(token)
        if logger.isEnabledFor(logging.DEBUG):
            phases = {k: round(v, 3) for k, v in turn.phases_ms.items()}
            logger.debug(
                "agent %s: turn %s took %.1f ms (model %.1f ms): %s",
                self._agent_id,
                message.id,
                result.total_ms,
                result.model_ms,
                phases,
                extra={"phases_ms": phases},
            )
        return result

    async def _answer(self, turn: Turn, user_name: str | None) -> TurnResult:
        message = turn.message
        # What needs no vector starts while the message is embedded: logging what was
        # heard, and asking for the room's latest messages.
        entry = self._record.log_heard(message)
        history = asyncio.ensure_future(room_history(self._context, message, self._limits))
        try:
            vector = (await self._context.embed([message.content.text]))[0]
        except BaseException:
            await settle(history)
            await settle(entry)
            raise
        turn.mark("embed the message")
        # Storing and logging what was heard overlap composing and the model call: they
        # must be done before the agent says or does anything, not before it thinks.
        heard = asyncio.ensure_future(self._record.hear(message, vector, entry))
        decided: dict[str, Any] = {"in_reply_to": message.id}
        try:
            state = await self._compose(turn, vector, history, user_name, decided)
            prompt = render_prompt(self._template, state.values)
            turn.mark("compose the state")
            content = await self._decide(prompt, state)
            turn.mark("model: response")
        except ModelFailed as exc:
            await heard
            error = self._redactor.text(exc.message)
            index = await self._record.model_failed(turn, decided | {"error": error})
            raise ModelFailed(f"{error} (logged at #{index})") from exc
        except BaseException:
            await settle(history)
            await settle(heard)
            raise
        return await self._carry_out(turn, content, decided, heard)

    async def _compose(
        self,
        turn: Turn,
        vector: Matrix,
        history: asyncio.Future[Any],
        user_name: str | None,
        decided: dict[str, Any],
    ) -> State:
        message = turn.message
        composed = await compose_state(
            self._context,
            message=message,
            vector=vector,
            sender_name=user_name or message.entity_id,
            actions=self.actions,
            providers=self._providers,
            limits=self._limits,
            history=history,
            persona=self._persona,
        )
        for problem in composed.problems:
            logger.warning("agent %s: left out of the state: %s", self._agent_id, problem)
        if composed.problems:
            decided["problems"] = list(composed.problems)
        turn.state = composed.state
        return composed.state

    async def _decide(self, prompt: str, state: State) -> Content:
        request = ModelRequest(purpose=Purpose.RESPONSE, prompt=prompt, state=state)
        deadline = asyncio.timeout(self._limits.model_timeout_s)
        try:
            async with deadline:
                answer = await self._model.complete(request)
        except ModelFailed:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                raise ModelFailed(
                    f"the model did not answer within {self._limits.model_timeout_s:g} s"
                ) from None
            raise ModelFailed(f"the model failed: {describe_error(exc)}") from exc
        if not isinstance(answer, str):
            raise ModelFailed(f"the model answered {type(answer).__name__}, not text")
        return parse_response(answer)

    async def _carry_out(
        self, turn: Turn, content: Content, decided: dict[str, Any], heard: asyncio.Future[int]
    ) -> TurnResult:
        """Store the reply, run the actions and evaluators, log them: either path."""
        state = turn.state
        assert state is not None
        choices = [choose(self._by_name, state, name) for name in content.actions]
        document = decided | {"thought": content.thought, "actions": list(content.actions)}
        chosen = [self._by_name.get(name.upper()) for name in content.actions]
        ignored = any(a is not None and a.name == IGNORE for a in chosen)  # or a simile
        text = "" if ignored else content.text
        reply = None
        if text:
            reply = self._record.reply(turn.message, Content(text=text, actions=content.actions))
            document = said(document, reply)
        else:  # silent: IGNORE, or nothing to say
            document |= {"ignored": ignored}
        stored = self._record.store(reply) if reply is not None else None
        try:
            message_index = await heard
        except BaseException:
            if stored is not None and reply is not None:
                await self._record.withdraw(reply, stored)
            raise
        turn.mark("log MESSAGE_IN")
        if all(choice.silent for choice in choices):
            decision, outcomes, indices = await self._conclude_silently(
                turn, choices, reply, stored, document
            )
        else:
            decision = await self._record.say(turn, reply, document, stored)
            turn.mark("log the decision")
            outcomes = [await self._run_action(turn, choice) for choice in choices]
            turn.mark("actions")
            outcomes += await self._evaluations(turn)
            turn.mark("evaluators")
            indices = await self._record.append(turn, None, outcomes, len(choices))
            turn.mark("log the outcomes")
        return self._record.result(turn, message_index, decision, outcomes, indices, len(choices))

    async def _conclude_silently(
        self,
        turn: Turn,
        choices: list[Choice],
        reply: Message | None,
        stored: asyncio.Future[None] | None,
        document: dict[str, Any],
    ) -> tuple[int, list[Outcome], list[int]]:
        """Nothing acts on the world: the decision is logged with what followed, in
        one append, while the reply is being stored. The decision's index, the
        outcomes and theirs."""
        if reply is not None:
            turn.replies.append(reply)

        async def run_and_log() -> tuple[list[Outcome], list[int]]:
            outcomes = [await self._run_action(turn, choice) for choice in choices]
            outcomes += await self._evaluations(turn)
            turn.mark("actions and evaluators")
            decision = self._record.decision(turn, document)
            indices = await self._record.append(turn, decision, outcomes, len(choices))
            turn.mark("log the decision and outcomes")
            return outcomes, indices

        if reply is None or stored is None:
            outcomes, indices = await run_and_log()
        else:
            saved, logged = await asyncio.gather(stored, run_and_log(), return_exceptions=True)
            outcomes, indices = await self._record.keep_or_withdraw(reply, saved, logged)
            turn.responses.append(logged_response(reply, indices[0]))
        return indices[0], outcomes, indices[1:]

    async def _run_action(self, turn: Turn, choice: Choice) -> Outcome:
        return await run_action(
            self._context,
            turn,
            choice,
            redactor=self._redactor,
            say=self._record.say_for_action,
            timeout_s=self._limits.action_timeout_s,
        )

    async def _evaluations(self, turn: Turn) -> list[Outcome]:
        """The evaluators that apply, all at once."""
        evaluated = await asyncio.gather(
            *(
                evaluate(
                    self._context,
                    turn,
                    evaluator,
                    redactor=self._redactor,
                    timeout_s=self._limits.evaluator_timeout_s,
                )
                for evaluator in self._evaluators
            )
        )
        return [o for o in evaluated if o is not None]

    def _stamp(self) -> int:
        """Creation times strictly increase, so a room's messages keep their order."""
        self._last_stamp = max(self._clock(), self._last_stamp + 1)
        return self._last_stamp
