"""The agent's message loop (the ElizaOS flow), every step in the verifiable log.

A turn: check the message; embed it once; store it and log it (MESSAGE_IN)
while the state is composed and the model is asked; log the decision (RESPONSE)
while storing the reply; run the chosen actions in order (each message an
action sends is stored and logged as a RESPONSE when it is sent); run the
evaluators; log the actions' and evaluators' results in one append.

Three log round trips per turn, plus one per message an action sends; the first
overlaps the model call. The agent says and does nothing before what it heard
is durable in the log, and the decision is sequenced before any action runs, so
a signature an action asks the enclave for lands after the decision that chose
it. A plugin that fails is recorded (ok=false, type and message of its error)
and the turn goes on; a model that fails is recorded and the caller gets
ModelFailed. Turns of one room run one at a time, in arrival order; rooms run
concurrently.

Payloads are canonical JSON (sorted keys, no whitespace, UTF-8), with every
character secret value replaced by "[redacted]"; prompts are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from anima_core.tlog.entry import EntryKind, check_host_writable
from anima_core.tlog.errors import LogVerificationError
from anima_memory.embeddings.base import Matrix
from anima_memory.models import REF_ID_PATTERN, REF_ID_RULE, shown
from anima_memory.service import MemoryDraft
from anima_runtime.agent.compose import MESSAGES, compose_state, describe_error
from anima_runtime.agent.formats import parse_response
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.prompts import MESSAGE_HANDLER, MESSAGE_HANDLER_TEMPLATE, render_prompt
from anima_runtime.agent.state import State
from anima_runtime.agent.templates import template_for
from anima_runtime.agent.turn import LoggedAction, LoggedEvaluation, LoggedResponse, TurnResult
from anima_runtime.character.model import REDACTED, Character
from anima_runtime.errors import AgentStopped, InvalidMessage, ModelFailed, PluginFailed
from anima_runtime.log.service import AgentLog, LogItem
from anima_runtime.models.base import ChatModel, ModelRequest, Purpose
from anima_runtime.plugins.knowledge import ingest_knowledge
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
    Service,
)

logger = logging.getLogger(__name__)

AGENT_ACTOR = "agent"  # the log actor of the agent's own entries
PAYLOAD_VERSION = 1
IGNORE = "IGNORE"
NONE = "NONE"
MAX_DATA_BYTES = 64 * 1024  # an action's or evaluator's data, as logged
MIN_SECRET_CHARS = 4  # shorter values are not searched for (they would match everywhere)
_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=lambda o: dict(o) if isinstance(o, Mapping) else str(o),
)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """How much one turn may take in, recall and wait for."""

    max_message_bytes: int = 16 * 1024  # UTF-8, after stripping
    max_user_name_chars: int = 64
    recent_messages: int = 20
    similar_messages: int = 5
    # MiniLM cosine: a question and the statement that answers it are often only 0.4-0.5
    # apart; unrelated sentences score about 0-0.15.
    similar_min_score: float = 0.4
    facts: int = 6
    fact_min_score: float = 0.3
    speaker_facts: int = 6  # facts about the sender, at a lower bar
    speaker_fact_min_score: float = 0.1
    knowledge: int = 5
    knowledge_min_score: float = 0.35
    lore_lines: int = 10
    character_examples: int = 3
    action_examples: int = 5
    provider_timeout_s: float = 10.0  # each provider, and each action's validate
    model_timeout_s: float = 120.0
    action_timeout_s: float = 60.0
    evaluator_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_message_bytes <= 64 * 1024:  # the memory service stores 64 KiB
            raise ValueError("max_message_bytes must be within [1, 65536]")
        for name in (
            "max_user_name_chars",
            "recent_messages",
            "similar_messages",
            "facts",
            "speaker_facts",
            "knowledge",
            "lore_lines",
            "character_examples",
            "action_examples",
        ):
            if not 0 <= getattr(self, name) <= 400:  # recall asks for up to 2 x 400 + 1
                raise ValueError(f"{name} must be within [0, 400]")
        for name in (
            "similar_min_score",
            "fact_min_score",
            "speaker_fact_min_score",
            "knowledge_min_score",
        ):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [-1, 1]")
        for name in ("provider_timeout_s", "model_timeout_s", "action_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if not self.evaluator_timeout_s > 0:
            raise ValueError("evaluator_timeout_s must be positive")


class _Redactor:
    """Replaces the character's secret values wherever they would be logged or sent."""

    def __init__(self, character: Character) -> None:
        values = {character.secret(name) for name in character.secrets.names()}
        self._values = sorted(
            (v for v in values if v and len(v) >= MIN_SECRET_CHARS), key=len, reverse=True
        )

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def document(self, value: Any) -> Any:
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.document(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.document(v) for v in value]
        return value


class _RoomSlot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


@dataclass(slots=True)
class _Turn:
    """One turn in progress."""

    message: Message
    started: float
    state: State | None = None
    responses: list[LoggedResponse] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)  # the agent's messages this turn
    model_s: float = 0.0  # while at least one model or embedding call was in flight
    _calls: int = 0
    _since: float = 0.0

    @contextmanager
    def model_time(self) -> Iterator[None]:
        """Count a model call's time; overlapping calls count once."""
        if not self._calls:
            self._since = time.perf_counter()
        self._calls += 1
        try:
            yield
        finally:
            self._calls -= 1
            if not self._calls:
                self.model_s += time.perf_counter() - self._since


#: The turn the current task works for: plugins' model calls count as its model time.
_CURRENT_TURN: ContextVar[_Turn | None] = ContextVar("anima_turn", default=None)


@contextmanager
def _model_time() -> Iterator[None]:
    turn = _CURRENT_TURN.get()
    if turn is None:
        yield
    else:
        with turn.model_time():
            yield


class _TimedModel:
    """The agent's model as plugins see it: calls made during a turn count as its
    model time (TurnResult.model_ms), not as runtime overhead."""

    def __init__(self, model: ChatModel) -> None:
        self._model = model

    @property
    def name(self) -> str:
        return self._model.name

    async def complete(self, request: ModelRequest) -> str:
        with _model_time():
            return await self._model.complete(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        pieces = aiter(self._model.stream(request))
        while True:
            with _model_time():
                try:
                    piece = await anext(pieces)
                except StopAsyncIteration:
                    return
            yield piece

    async def aclose(self) -> None:
        await self._model.aclose()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """An action's or evaluator's result, before its entry is appended."""

    name: str
    ok: bool
    text: str  # the action's text or the evaluator's summary; the error when not ok
    data: Mapping[str, Any]
    document: dict[str, Any]


class AgentRuntime:
    """One running agent: its plugins, model and memory, and the loop that answers."""

    def __init__(
        self,
        *,
        agent_id: str,
        character: Character,
        memory: MemoryPort,
        model: ChatModel,
        log: AgentLog,
        plugins: Sequence[Plugin],
        limits: TurnLimits = TurnLimits(),
        knowledge_dir: Path | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if log.agent_id != agent_id:
            raise ValueError(f"the log is agent {log.agent_id!r}'s, not {agent_id!r}'s")
        self._agent_id = agent_id
        self._character = character
        self._memory = memory
        self._model = model
        self._timed_model = _TimedModel(model)
        self._log = log
        self._plugins = tuple(plugins)
        self._limits = limits
        self._knowledge_dir = knowledge_dir
        self._clock = clock
        self._redactor = _Redactor(character)
        self._actions, self._by_name = _register_actions(self._plugins)
        self._providers = _unique("provider", [p for pl in self._plugins for p in pl.providers])
        self._evaluators = _unique("evaluator", [e for pl in self._plugins for e in pl.evaluators])
        self._services: list[Service] = []
        self._running = False
        self._knowledge_loaded = False
        self._lifecycle = asyncio.Lock()
        self._rooms: dict[str, _RoomSlot] = {}  # only rooms with a turn in flight
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_stamp = 0

    # ------------------------------------------------------------ AgentContext

    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def character(self) -> Character:
        return self._character

    @property
    def memory(self) -> MemoryPort:
        return self._memory

    @property
    def model(self) -> ChatModel:
        return self._timed_model

    async def embed(self, texts: Sequence[str]) -> Matrix:
        with _model_time():
            return await self._memory.embed(texts)

    def setting(self, key: str) -> str | None:
        """ElizaOS getSetting: a secret first, then a setting (other than text as JSON)."""
        secret = self._character.secret(key)
        if secret is not None:
            return secret
        value = self._character.settings.get(key)
        if value is None or isinstance(value, str):
            return value
        return _ENCODER.encode(value)

    def now_ms(self) -> int:
        return self._clock()

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._running

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action the agent can take (NONE and IGNORE always among them)."""
        return self._actions

    async def start(self) -> None:
        """Start the plugins' services and ingest the character's knowledge (once)."""
        async with self._lifecycle:
            if self._running:
                return
            started: list[Service] = []
            try:
                for plugin in self._plugins:
                    for factory in plugin.services:
                        service = factory()
                        try:
                            await service.start(self)
                        except Exception as exc:
                            raise PluginFailed(
                                f"service {getattr(service, 'name', '?')} of plugin "
                                f"{plugin.name} did not start: {describe_error(exc)}"
                            ) from exc
                        started.append(service)
                if not self._knowledge_loaded:
                    report = await ingest_knowledge(
                        self._memory, self._agent_id, self._character, base_dir=self._knowledge_dir
                    )
                    for skipped in report.skipped:
                        logger.warning(
                            "agent %s: knowledge %s skipped: %s",
                            self._agent_id,
                            skipped.source,
                            skipped.reason,
                        )
                    self._knowledge_loaded = True
            except BaseException:
                await _stop_all(self._agent_id, started)
                raise
            self._services = started
            self._running = True

    async def stop(self) -> None:
        """Refuse new messages, let the turns in flight finish, stop the services."""
        async with self._lifecycle:
            if not self._running:
                return
            self._running = False
            await self._idle.wait()
            services, self._services = self._services, []
            await _stop_all(self._agent_id, services)

    # ------------------------------------------------------------ the loop

    async def handle_message(
        self, *, room_id: str, entity_id: str, text: str, user_name: str | None = None
    ) -> TurnResult:
        """Answer one message; every step is in the log when this returns.

        Raises InvalidMessage (nothing stored or logged), AgentStopped, or
        ModelFailed (the message is stored and logged, and so is the failure).
        """
        text, user_name = self._check_message(room_id, entity_id, text, user_name)
        if not self._running:
            raise AgentStopped(f"agent {self._agent_id} is not running; start it first")
        # No await before the room's lock is asked for: turns queue in arrival order.
        slot = self._rooms.get(room_id)
        if slot is None:
            slot = self._rooms[room_id] = _RoomSlot()
        slot.users += 1
        self._busy += 1
        self._idle.clear()
        try:
            async with slot.lock:
                if not self._running:
                    raise AgentStopped(f"agent {self._agent_id} stopped before the message")
                return await self._turn(room_id, entity_id, text, user_name)
        finally:
            slot.users -= 1
            if not slot.users:
                del self._rooms[room_id]
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    def _check_message(
        self, room_id: str, entity_id: str, text: str, user_name: str | None
    ) -> tuple[str, str | None]:
        for value, what in ((room_id, "room_id"), (entity_id, "entity_id")):
            if not isinstance(value, str) or REF_ID_PATTERN.fullmatch(value) is None:
                raise InvalidMessage(f"{what} must be {REF_ID_RULE}, got {shown(value)}")
        if entity_id == self._agent_id:
            raise InvalidMessage("entity_id is the agent's own id: messages come from others")
        try:
            check_host_writable(EntryKind.MESSAGE_IN, entity_id)
        except LogVerificationError as exc:
            raise InvalidMessage(f"entity_id cannot be a log actor: {exc.message}") from None
        if not isinstance(text, str):
            raise InvalidMessage(f"text must be a string, got {type(text).__name__}")
        text = text.strip()
        if not text:
            raise InvalidMessage("text is empty")
        try:
            size = len(text.encode())
        except UnicodeEncodeError:
            raise InvalidMessage("text is not valid Unicode (lone surrogate)") from None
        if size > self._limits.max_message_bytes:
            raise InvalidMessage(
                f"text is {size} bytes (UTF-8); at most {self._limits.max_message_bytes}"
            )
        if user_name is not None:
            if not isinstance(user_name, str):
                raise InvalidMessage(f"user_name must be a string, got {type(user_name).__name__}")
            user_name = user_name.strip() or None
        if user_name is not None:
            if len(user_name) > self._limits.max_user_name_chars:
                raise InvalidMessage(
                    f"user_name is {len(user_name)} characters; "
                    f"at most {self._limits.max_user_name_chars}"
                )
            if not user_name.isprintable():
                raise InvalidMessage("user_name must be one line of printable characters")
        return text, user_name

    async def _turn(
        self, room_id: str, entity_id: str, text: str, user_name: str | None
    ) -> TurnResult:
        message = Message(
            id=str(uuid.uuid4()),
            agent_id=self._agent_id,
            entity_id=entity_id,
            room_id=room_id,
            content=Content(text=text, fields={"name": user_name} if user_name else {}),
            created_at_ms=self._stamp(),
        )
        turn = _Turn(message=message, started=time.perf_counter())
        token = _CURRENT_TURN.set(turn)
        try:
            return await self._answer(turn, user_name)
        finally:
            _CURRENT_TURN.reset(token)

    async def _answer(self, turn: _Turn, user_name: str | None) -> TurnResult:
        message = turn.message
        room_id = message.room_id
        vector = (await self.embed([message.content.text]))[0]
        # Storing and logging what was heard overlap composing and the model call: they
        # must be done before the agent says or does anything, not before it thinks.
        heard = asyncio.ensure_future(self._hear(message, vector))
        decided: dict[str, Any] = {"in_reply_to": message.id}
        try:
            composed = await compose_state(
                self,
                message=message,
                vector=vector,
                sender_name=user_name or message.entity_id,
                actions=self._actions,
                providers=self._providers,
                limits=self._limits,
            )
            state = turn.state = composed.state
            for problem in composed.problems:
                logger.warning("agent %s: left out of the state: %s", self._agent_id, problem)
            if composed.problems:
                decided["problems"] = list(composed.problems)
            template = template_for(self._character, MESSAGE_HANDLER, MESSAGE_HANDLER_TEMPLATE)
            prompt = self._redactor.text(render_prompt(template, state.values))
            content = await self._decide(prompt, state)
        except ModelFailed as exc:
            await heard
            error = self._redactor.text(exc.message)
            failed = self._item(EntryKind.RESPONSE, decided | {"error": error}, room=room_id)
            await self._log.append([failed])
            raise ModelFailed(error) from exc
        except BaseException:
            await _settle(heard)
            raise
        message_index = await heard
        await self._respond(turn, content, decided)

        outcomes = [await self._run_action(turn, name) for name in content.actions]
        evaluated = await asyncio.gather(*(self._evaluate(turn, e) for e in self._evaluators))
        outcomes += [o for o in evaluated if o is not None]
        return await self._finish(turn, outcomes, len(content.actions), message_index)

    async def _hear(self, message: Message, vector: Matrix) -> int:
        """Store the incoming message and log it (MESSAGE_IN); its log index."""
        document = {
            "message_id": message.id,
            "entity_id": message.entity_id,
            "room_id": message.room_id,
            "text": message.content.text,
            "created_at_ms": message.created_at_ms,
        }
        item = self._item(
            EntryKind.MESSAGE_IN, document, room=message.room_id, actor=message.entity_id
        )
        stored, logged = await asyncio.gather(
            self._memory.create([_draft(message, vector)]),
            self._log.append([item]),
            return_exceptions=True,
        )
        if isinstance(logged, BaseException):
            if not isinstance(stored, BaseException):  # nothing heard stays unlogged
                await self._memory.delete(self._agent_id, message.id)
            raise logged
        if isinstance(stored, BaseException):
            raise stored
        return logged[0]

    async def _decide(self, prompt: str, state: State) -> Content:
        request = ModelRequest(purpose=Purpose.RESPONSE, prompt=prompt, state=state)
        deadline = asyncio.timeout(self._limits.model_timeout_s)
        try:
            async with deadline:
                answer = await self._timed_model.complete(request)
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

    async def _respond(self, turn: _Turn, content: Content, decided: dict[str, Any]) -> None:
        """Log the decision (and store the reply, at the same time) before any action."""
        document = decided | {"thought": content.thought, "actions": list(content.actions)}
        chosen = [self._by_name.get(name.upper()) for name in content.actions]
        ignored = any(a is not None and a.name == IGNORE for a in chosen)  # or a simile
        text = "" if ignored else self._redactor.text(content.text)
        if not text:  # silent: IGNORE, or nothing to say
            document |= {"ignored": ignored}
            room = turn.message.room_id
            await self._log.append([self._item(EntryKind.RESPONSE, document, room=room)])
            return
        await self._say(turn, Content(text=text, actions=content.actions), document)

    async def _say(self, turn: _Turn, content: Content, document: dict[str, Any]) -> None:
        """Store one message of the agent's and log it as a RESPONSE, concurrently."""
        request = turn.message
        reply = Message(
            id=str(uuid.uuid4()),
            agent_id=self._agent_id,
            entity_id=self._agent_id,
            room_id=request.room_id,
            content=Content(
                text=content.text,
                actions=content.actions,
                fields={
                    **content.fields,
                    "actions": list(content.actions),
                    "in_reply_to": request.id,
                },
            ),
            created_at_ms=self._stamp(),
        )
        document = document | {
            "ignored": False,
            "message_id": reply.id,
            "text": content.text,
            "created_at_ms": reply.created_at_ms,
        }
        stored, logged = await asyncio.gather(
            self._store_reply(reply),
            self._log.append([self._item(EntryKind.RESPONSE, document, room=reply.room_id)]),
            return_exceptions=True,
        )
        if isinstance(logged, BaseException):
            if not isinstance(stored, BaseException):  # nothing said stays unlogged
                await self._memory.delete(self._agent_id, reply.id)
            raise logged
        if isinstance(stored, BaseException):
            raise stored
        turn.replies.append(reply)
        turn.responses.append(
            LoggedResponse(
                text=content.text, actions=content.actions, memory_id=reply.id, log_index=logged[0]
            )
        )

    async def _store_reply(self, reply: Message) -> None:
        vector = (await self.embed([reply.content.text]))[0]
        await self._memory.create([_draft(reply, vector)])

    async def _run_action(self, turn: _Turn, requested: str) -> _Outcome:
        base = {"in_reply_to": turn.message.id, "requested": requested}

        def outcome(
            name: str, ok: bool, text: str, data: Mapping[str, Any] | None = None
        ) -> _Outcome:
            return self._outcome(name, ok, text, data or {}, base | {"text": text})

        action = self._by_name.get(requested.upper())
        if action is None:  # unknown
            return outcome(requested, False, "unknown action")
        state = turn.state
        assert state is not None
        if all(a.name != action.name for a in state.actions):
            return outcome(action.name, False, "not valid for this message")
        answered = False

        async def callback(content: Content) -> None:
            if answered:
                raise PluginFailed(f"action {action.name} sent a message after it returned")
            text = self._redactor.text(content.text.strip())
            if not text:
                raise PluginFailed(f"action {action.name} sent a message without text")
            said: dict[str, Any] = {
                "in_reply_to": turn.message.id,
                "action": action.name,
                "thought": content.thought,
                "actions": list(content.actions),
            }
            await self._say(
                turn, Content(text=text, actions=content.actions, fields=content.fields), said
            )

        timeout_s = self._limits.action_timeout_s
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                result = await action.handler(self, turn.message, state, callback)
        except Exception as exc:
            return outcome(action.name, False, _failure(exc, deadline, timeout_s))
        finally:
            answered = True
        if result is None:
            return outcome(action.name, True, "")
        if not isinstance(result, ActionResult):
            error = f"the handler returned {type(result).__name__}, not an ActionResult"
            return outcome(action.name, False, error)
        return outcome(action.name, result.success, result.text, result.data)

    async def _evaluate(self, turn: _Turn, evaluator: Evaluator) -> _Outcome | None:
        """The evaluator's outcome, or None when it does not apply to this turn."""
        state = turn.state
        assert state is not None
        base = {"in_reply_to": turn.message.id}

        def outcome(ok: bool, summary: str, data: Mapping[str, Any] | None = None) -> _Outcome:
            document = base | {"summary": summary}
            return self._outcome(evaluator.name, ok, summary, data or {}, document)

        timeout_s = self._limits.evaluator_timeout_s
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                if not evaluator.always_run and not await evaluator.validate(
                    self, turn.message, state
                ):
                    return None
                result = await evaluator.handler(self, turn.message, state, tuple(turn.replies))
        except Exception as exc:
            return outcome(False, _failure(exc, deadline, timeout_s))
        if result is None:
            return outcome(True, "")
        if not isinstance(result, EvaluatorResult):
            return outcome(False, f"the handler returned {type(result).__name__}, not a result")
        return outcome(True, result.summary, result.data)

    def _outcome(
        self, name: str, ok: bool, text: str, data: Mapping[str, Any], document: dict[str, Any]
    ) -> _Outcome:
        """`document` (the entry's payload) gets the name, ok and data; secrets go."""
        text = self._redactor.text(text)
        data = self._redactor.document(_loggable(data))
        document = self._redactor.document(document | {"name": name, "ok": ok, "data": data})
        return _Outcome(name=name, ok=ok, text=text, data=data, document=document)

    async def _finish(
        self, turn: _Turn, outcomes: list[_Outcome], action_count: int, message_index: int
    ) -> TurnResult:
        """One append for every action's and evaluator's entry, then the result."""
        kinds = [EntryKind.ACTION] * action_count
        kinds += [EntryKind.EVALUATOR] * (len(outcomes) - action_count)
        room = turn.message.room_id
        items = [self._item(k, o.document, room=room) for k, o in zip(kinds, outcomes, strict=True)]
        indices = await self._log.append(items) if items else []
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
            responses=tuple(turn.responses),
            actions=tuple(actions),
            evaluations=tuple(evaluations),
            model_ms=turn.model_s * 1000,
            total_ms=(time.perf_counter() - turn.started) * 1000,
        )

    # ------------------------------------------------------------ helpers

    def _item(
        self, kind: EntryKind, document: Mapping[str, Any], *, room: str, actor: str = AGENT_ACTOR
    ) -> LogItem:
        payload = {"v": PAYLOAD_VERSION, **self._redactor.document(document)}
        return LogItem(kind=kind, actor=actor, room=room, payload=_ENCODER.encode(payload).encode())

    def _stamp(self) -> int:
        """Creation times strictly increase, so a room's messages keep their order."""
        self._last_stamp = max(self._clock(), self._last_stamp + 1)
        return self._last_stamp


# ------------------------------------------------------------------ module helpers


async def _nothing(
    context: AgentContext, message: Message, state: State, callback: HandlerCallback
) -> ActionResult | None:
    return None


#: Taken when no plugin defines them: the response format names them.
_BUILTIN_ACTIONS = (
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


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _unique(kind: str, parts: Sequence[N]) -> list[N]:
    """The first of each name (case-insensitive), as ElizaOS registers them."""
    kept: dict[str, N] = {}
    for part in parts:
        if part.name.upper() in kept:
            logger.warning("a second %s named %s is ignored", kind, part.name)
        else:
            kept[part.name.upper()] = part
    return list(kept.values())


def _register_actions(plugins: Sequence[Plugin]) -> tuple[tuple[Action, ...], dict[str, Action]]:
    """Every action, and each by its name and its similes (upper case; names first)."""
    actions = _unique("action", [a for p in plugins for a in p.actions])
    names = {a.name.upper() for a in actions}
    actions += [a for a in _BUILTIN_ACTIONS if a.name not in names]
    by_name = {a.name.upper(): a for a in actions}
    for action in actions:
        for simile in action.similes:
            by_name.setdefault(simile.upper(), action)
    return tuple(actions), by_name


def _failure(exc: Exception, deadline: asyncio.Timeout, timeout_s: float) -> str:
    """What a caller may see of a plugin's failure (PluginFailed): no traceback."""
    if isinstance(exc, TimeoutError) and deadline.expired():
        return f"no result within {timeout_s:g} s"
    return describe_error(exc)


def _loggable(data: Mapping[str, Any]) -> dict[str, Any]:
    """A plugin's data as plain JSON, or a note of why it could not be logged."""
    try:
        encoded = _ENCODER.encode(dict(data))
    except (TypeError, ValueError) as exc:
        return {"unloggable": describe_error(exc)}
    if len(encoded) > MAX_DATA_BYTES:  # characters; at least as many bytes
        return {"omitted": f"{len(encoded)} characters of data; at most {MAX_DATA_BYTES}"}
    plain: dict[str, Any] = json.loads(encoded)
    return plain


def _draft(message: Message, vector: Matrix) -> MemoryDraft:
    return MemoryDraft(
        id=message.id,
        agent_id=message.agent_id,
        entity_id=message.entity_id,
        room_id=message.room_id,
        table=MESSAGES,
        text=message.content.text,
        fields=dict(message.content.fields),
        created_at_ms=message.created_at_ms,
        vector=vector,
    )


async def _settle(task: asyncio.Future[Any]) -> None:
    """Wait for `task` to end without raising: the caller raises its own error."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not report it as lost


async def _stop_all(agent_id: str, services: Sequence[Service]) -> None:
    """Stop `services` in reverse order; one that fails is reported, the rest still stop."""
    for service in reversed(services):
        try:
            await service.stop()
        except Exception as exc:
            logger.warning(
                "agent %s: service %s did not stop cleanly: %s",
                agent_id,
                getattr(service, "name", "?"),
                describe_error(exc),
            )
