"""One running agent (`AgentRuntime`): what plugins see of it (AgentContext), its
lifecycle (services, knowledge), and the queue of turns: turns of one room run one
at a time, in arrival order; rooms run concurrently. How a turn is answered, and
logged, is loop.py's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from anima_memory_api.types import Matrix
from anima_runtime.agent.compose import describe_error
from anima_runtime.agent.limits import TurnLimits
from anima_runtime.agent.loop import MessageLoop
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.messages import check_message
from anima_runtime.agent.payloads import ENCODER, Redactor
from anima_runtime.agent.progress import TimedModel, model_time
from anima_runtime.agent.turn import TurnResult
from anima_runtime.character.model import Character
from anima_runtime.errors import AgentStopped, PluginFailed
from anima_runtime.llm.base import ChatModel
from anima_runtime.log.service import AgentLog
from anima_runtime.plugins.knowledge.ingest import ingest_knowledge
from anima_runtime.plugins.types import Action, Plugin, Service

__all__ = ["AgentRuntime", "TurnLimits", "wall_clock_ms"]

logger = logging.getLogger(__name__)

DEFAULT_LIMITS = TurnLimits()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _RoomSlot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


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
        limits: TurnLimits = DEFAULT_LIMITS,
        knowledge_dir: Path | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        if log.agent_id != agent_id:
            raise ValueError(f"the log is agent {log.agent_id!r}'s, not {agent_id!r}'s")
        self._agent_id = agent_id
        self._character = character
        self._memory = memory
        self._redactor = Redactor(character)
        # Every prompt, the loop's and the plugins', reaches the model through this one.
        self._timed_model = TimedModel(model, redactor=self._redactor, system=character.system)
        self._agent_names = (character.name, character.username)
        self._plugins = tuple(plugins)
        self._limits = limits
        self._knowledge_dir = knowledge_dir
        self._clock = clock
        self._loop = MessageLoop(
            context=self,
            memory=memory,
            model=self._timed_model,
            redactor=self._redactor,
            log=log,
            plugins=self._plugins,
            limits=limits,
            clock=clock,
        )
        self._services: list[Service] = []
        self._running = False
        self._knowledge_loaded = False
        self._lifecycle = asyncio.Lock()
        self._rooms: dict[str, _RoomSlot] = {}  # only rooms with a turn in flight
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

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
        with model_time():
            return await self._memory.embed(texts)

    def setting(self, key: str) -> str | None:
        """ElizaOS getSetting: a secret first, then a setting (other than text as JSON)."""
        secret = self._character.secret(key)
        if secret is not None:
            return secret
        value = self._character.settings.get(key)
        if value is None or isinstance(value, str):
            return value
        return ENCODER.encode(value)

    def now_ms(self) -> int:
        return self._clock()

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._running

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action the agent can take (NONE and IGNORE always among them)."""
        return self._loop.actions

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

        The character's secrets are redacted from what was heard before anything is
        stored, logged or sent. Raises InvalidMessage (nothing stored or logged),
        AgentStopped, or ModelFailed (the message is stored and logged, and so is the
        failure: its message ends with the failure entry's index, "(logged at #N)").
        """
        text, user_name = check_message(
            agent_id=self._agent_id,
            room_id=room_id,
            entity_id=entity_id,
            text=text,
            user_name=user_name,
            agent_names=self._agent_names,
            limits=self._limits,
            redactor=self._redactor,
        )
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
                return await self._loop.answer(
                    room_id=room_id, entity_id=entity_id, text=text, user_name=user_name
                )
        finally:
            slot.users -= 1
            if not slot.users:
                del self._rooms[room_id]
            self._busy -= 1
            if not self._busy:
                self._idle.set()


# ------------------------------------------------------------------ module helpers


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
