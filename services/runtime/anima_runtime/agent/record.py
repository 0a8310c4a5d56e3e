"""A turn's writes: its messages into memory, its steps into the log, and what the
caller gets back (`TurnResult`, each step with its log index).

Memory and log are kept consistent the one way that matters: nothing heard or
said stays in memory unless it is logged. A message stored while its entry
fails to append is deleted again; a message whose storing fails after its entry
was logged is reported (the caller gets the error) and stays in the log.

What the agent says is redacted when its message is made (`reply`): no secret of
the character's is stored, logged or returned as something it said. Every entry a
turn appends is named in its TurnResult.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from anima_memory_api.types import Matrix
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.messages import draft
from anima_runtime.agent.payloads import Redactor
from anima_runtime.agent.progress import Turn
from anima_runtime.agent.steps import Outcome
from anima_runtime.agent.turn import LoggedAction, LoggedEvaluation, LoggedResponse, TurnResult
from anima_runtime.log.items import LogItem
from anima_runtime.log.service import AgentLog
from anima_runtime.plugins.types import Content, Message
from anima_verify.tlog.entry import EntryKind

T = TypeVar("T")


class TurnRecord:
    """Stores and logs what one agent hears and says, and the outcomes of its turns."""

    def __init__(
        self,
        *,
        agent_id: str,
        memory: MemoryPort,
        log: AgentLog,
        redactor: Redactor,
        stamp: Callable[[], int],
    ) -> None:
        self._agent_id = agent_id
        self._memory = memory
        self._log = log
        self._redactor = redactor
        self._stamp = stamp

    def log_heard(self, message: Message) -> asyncio.Future[list[int]]:
        """Start logging the incoming message (MESSAGE_IN): it needs no embedding."""
        document = {
            "message_id": message.id,
            "entity_id": message.entity_id,
            "room_id": message.room_id,
            "text": message.content.text,
            "created_at_ms": message.created_at_ms,
        }
        item = self._redactor.log_item(
            EntryKind.MESSAGE_IN, document, room=message.room_id, actor=message.entity_id
        )
        return asyncio.ensure_future(self._log.append([item]))

    async def hear(self, message: Message, vector: Matrix, entry: asyncio.Future[list[int]]) -> int:
        """Store the incoming message while it is logged (`entry`: log_heard's); its log
        index. Nothing heard stays stored unlogged."""
        stored, logged = await asyncio.gather(
            self._memory.create([draft(message, vector)]), entry, return_exceptions=True
        )
        if isinstance(logged, BaseException):
            if not isinstance(stored, BaseException):
                await self._memory.delete(self._agent_id, message.id)
            raise logged
        if isinstance(stored, BaseException):
            raise stored
        return logged[0]

    async def model_failed(self, turn: Turn, document: dict[str, Any]) -> int:
        """Log that the turn ended without a decision (`document` says why); its index."""
        (index,) = await self._log.append([self.decision(turn, document)])
        return index

    def decision(self, turn: Turn, document: dict[str, Any]) -> LogItem:
        """The RESPONSE entry of `document`."""
        return self._redactor.log_item(EntryKind.RESPONSE, document, room=turn.message.room_id)

    def reply(self, request: Message, content: Content) -> Message:
        """A message of the agent's in reply to `request` (not stored yet), its text,
        actions and fields redacted."""
        redact = self._redactor.text
        actions = tuple(redact(a) for a in content.actions)
        fields: dict[str, Any] = self._redactor.document(dict(content.fields))
        return Message(
            id=str(uuid.uuid4()),
            agent_id=self._agent_id,
            entity_id=self._agent_id,
            room_id=request.room_id,
            content=Content(
                text=redact(content.text),
                actions=actions,
                fields={**fields, "actions": list(actions), "in_reply_to": request.id},
            ),
            created_at_ms=self._stamp(),
        )

    def store(self, reply: Message) -> asyncio.Future[None]:
        """Start storing `reply`: one CreateMemories, in which the memory service embeds
        it (an Embed call and then a Create cost a second round trip: issue 20)."""
        return asyncio.ensure_future(self._store(reply))

    async def _store(self, reply: Message) -> None:
        await self._memory.create([draft(reply)])

    async def withdraw(self, reply: Message, stored: asyncio.Future[None]) -> None:
        """Undo storing a reply that will not be logged (the turn failed first)."""
        await settle(stored)
        if not stored.cancelled() and stored.exception() is None:
            await self._memory.delete(self._agent_id, reply.id)

    async def say(
        self,
        turn: Turn,
        reply: Message | None,
        document: dict[str, Any],
        stored: asyncio.Future[None] | None,
    ) -> int:
        """Log a RESPONSE while its message (if any: `stored`) is stored; its index."""
        item = self.decision(turn, document)
        if reply is None or stored is None:
            (index,) = await self._log.append([item])
            return index
        saved, logged = await asyncio.gather(
            stored, self._log.append([item]), return_exceptions=True
        )
        (index,) = await self.keep_or_withdraw(reply, saved, logged)
        turn.replies.append(reply)
        turn.responses.append(logged_response(reply, index))
        return index

    async def say_for_action(self, turn: Turn, content: Content, document: dict[str, Any]) -> None:
        """A message an action sends: stored and logged as a RESPONSE, concurrently."""
        reply = self.reply(turn.message, content)
        await self.say(turn, reply, said(document, reply), self.store(reply))

    async def append(
        self, turn: Turn, first: LogItem | None, outcomes: list[Outcome], action_count: int
    ) -> list[int]:
        """One append: `first` (the decision, or nothing), then an entry per outcome."""
        room = turn.message.room_id
        items = [first] if first is not None else []
        kinds = [EntryKind.ACTION] * action_count
        kinds += [EntryKind.EVALUATOR] * (len(outcomes) - action_count)
        items += [
            self._redactor.log_item(k, o.document, room=room)
            for k, o in zip(kinds, outcomes, strict=True)
        ]
        return await self._log.append(items) if items else []

    async def keep_or_withdraw(self, reply: Message, saved: object, logged: T | BaseException) -> T:
        """After storing `reply` and logging it concurrently (gathered, exceptions
        returned): what was logged; or, if logging failed, the stored reply is deleted
        (nothing said stays unlogged) and the failure raised; or the storing's failure."""
        if isinstance(logged, BaseException):
            if not isinstance(saved, BaseException):
                await self._memory.delete(self._agent_id, reply.id)
            raise logged
        if isinstance(saved, BaseException):
            raise saved
        return logged

    def result(
        self,
        turn: Turn,
        message_index: int,
        decision_index: int,
        outcomes: list[Outcome],
        indices: list[int],
        action_count: int,
    ) -> TurnResult:
        actions = [
            LoggedAction(name=o.name, ok=o.ok, text=o.text, log_index=i, data=o.data)
            for o, i in zip(outcomes[:action_count], indices[:action_count], strict=True)
        ]
        evaluations = [
            LoggedEvaluation(name=o.name, ok=o.ok, summary=o.text, log_index=i, data=o.data)
            for o, i in zip(outcomes[action_count:], indices[action_count:], strict=True)
        ]
        return TurnResult(
            agent_id=self._agent_id,
            room_id=turn.message.room_id,
            message_id=turn.message.id,
            message_log_index=message_index,
            decision_log_index=decision_index,
            responses=tuple(turn.responses),
            actions=tuple(actions),
            evaluations=tuple(evaluations),
            model_ms=turn.model_s * 1000,
            total_ms=turn.elapsed_ms(),
        )


def said(document: dict[str, Any], reply: Message) -> dict[str, Any]:
    """The RESPONSE document of a message the agent sends."""
    return document | {
        "ignored": False,
        "message_id": reply.id,
        "text": reply.content.text,
        "created_at_ms": reply.created_at_ms,
    }


def logged_response(reply: Message, log_index: int) -> LoggedResponse:
    content = reply.content
    return LoggedResponse(
        text=content.text, actions=content.actions, memory_id=reply.id, log_index=log_index
    )


async def settle(task: asyncio.Future[Any]) -> None:
    """Wait for `task` to end without raising: the caller raises its own error."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not report it as lost
