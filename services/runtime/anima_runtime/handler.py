"""The runtime's API, transport-free: the HTTP routes (api/http.py) and the gRPC
RuntimeService (api/grpc_servicer.py) are thin adapters over this one handler.

    handler = RuntimeHandler.of(manager, config)
    view = await handler.create_agent(document)
    turn = await handler.send_message(view.agent_id, room_id="lobby", text="hi")
    note = await handler.logs.checkpoint(view.agent_id)

An adapter authenticates its caller and converts between its wire and the domain
types (anima_runtime_api.types); this checks what a wire cannot say (a required
id, a limit's range), calls the agent manager and the log reads, and raises the
runtime's domain errors, which each adapter maps to its own statuses. A call that
the memory service or the signer fails under becomes BackingServiceUnavailable or
BackingServiceFailed here, so no adapter sees the backing services' transport.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from anima_memory_api.types import Memory
from anima_runtime.character.load import parse_character_json
from anima_runtime.character.model import Character
from anima_runtime.config import RuntimeConfig
from anima_runtime.errors import BACKING_SERVICE_ERRORS, backing_service_error
from anima_runtime.log.reads import LogReads
from anima_runtime.manager import AgentManager
from anima_runtime.metrics import timed_turn
from anima_runtime_api.errors import InvalidRuntimeRequest
from anima_runtime_api.types import AgentView, RoomMemory, TurnResult

logger = logging.getLogger(__name__)

#: The longest agent id a request may name (ids are at most 64 characters).
MAX_AGENT_ID_CHARS: Final = 64
#: The longest room id (the memory service's reference ids).
MAX_ROOM_ID_CHARS: Final = 128
#: Memories a room listing returns unless asked otherwise.
DEFAULT_MEMORIES: Final = 20
#: The most memories a listing may ask for; the configured limits.max_memories may be
#: lower (the manager refuses beyond it).
MAX_MEMORIES: Final = 1000
#: How a backing service's gRPC call fails when it cannot be reached in time.


class RuntimeHandler:
    """Agents, their turns and memories, and their logs' reads; use `of`."""

    def __init__(self, *, manager: AgentManager, logs: LogReads) -> None:
        self._manager = manager
        self._logs = logs

    @classmethod
    def of(cls, manager: AgentManager, config: RuntimeConfig) -> RuntimeHandler:
        """The handler over `manager` and its agents' logs, as `config` limits them."""
        return cls(
            manager=manager,
            logs=LogReads(manager.logs, max_page=config.log.api.max_page_entries),
        )

    @property
    def logs(self) -> LogReads:
        """Reads of the agents' logs: checkpoint, entries, search, payloads, proofs."""
        return self._logs

    # ------------------------------------------------------------ agents

    async def create_agent(
        self,
        character: Mapping[str, Any] | bytes,
        *,
        agent_id: str | None = None,
        start: bool = True,
    ) -> AgentView:
        """Create an agent from a character: a decoded document, or its JSON text (as
        gRPC carries it, in `character_json`), and start it unless `start` is false."""
        parsed: Mapping[str, Any] | Character
        if isinstance(character, bytes):
            if not character:
                raise InvalidRuntimeRequest("character_json is required")
            parsed = parse_character_json(character, source="character_json")
        else:
            parsed = character
        if agent_id is not None:
            _check_agent_id(agent_id)
        with _backing_services("create_agent"):
            return await self._manager.create(parsed, agent_id=agent_id, start=start)

    def list_agents(self) -> list[AgentView]:
        return self._manager.list()

    def export_agent(self, agent_id: str) -> bytes:
        """The agent's portable record (admin: it holds the character's secrets)."""
        return self._manager.export(_check_agent_id(agent_id))

    async def restore_agent(
        self,
        agent_id: str,
        record_json: bytes,
        *,
        log_entries: Sequence[bytes] = (),
        checkpoint: bytes = b"",
    ) -> AgentView:
        """Host an agent restored into the signer, from its exported record and restored
        log (admin)."""
        if not record_json:
            raise InvalidRuntimeRequest("record_json is required")
        with _backing_services("restore_agent"):
            return await self._manager.restore(
                _check_agent_id(agent_id),
                record_json,
                log_entries=log_entries,
                checkpoint=checkpoint,
            )

    def get_agent(self, agent_id: str) -> AgentView:
        return self._manager.get(_check_agent_id(agent_id))

    async def start_agent(self, agent_id: str) -> AgentView:
        with _backing_services("start_agent"):
            return await self._manager.start(_check_agent_id(agent_id))

    async def stop_agent(self, agent_id: str) -> AgentView:
        with _backing_services("stop_agent"):
            return await self._manager.stop(_check_agent_id(agent_id))

    # ------------------------------------------------------------ conversation

    async def send_message(
        self,
        agent_id: str,
        *,
        room_id: str,
        text: str,
        entity_id: str | None = None,
        user_name: str | None = None,
    ) -> TurnResult:
        """One turn (the agent's loop checks the message and names the bad field)."""
        with _backing_services("send_message"), timed_turn():
            return await self._manager.send_message(
                _check_agent_id(agent_id),
                room_id=room_id,
                text=text,
                entity_id=entity_id,
                user_name=user_name,
            )

    async def room_memories(
        self, agent_id: str, room_id: str, limit: int = DEFAULT_MEMORIES
    ) -> list[RoomMemory]:
        """The room's latest `limit` memories (every table), oldest first."""
        _check_agent_id(agent_id)
        if len(room_id) > MAX_ROOM_ID_CHARS:
            raise InvalidRuntimeRequest(f"room_id must be at most {MAX_ROOM_ID_CHARS} characters")
        if not 1 <= limit <= MAX_MEMORIES:
            raise InvalidRuntimeRequest(f"limit must be between 1 and {MAX_MEMORIES}")
        with _backing_services("room_memories"):
            found = await self._manager.room_memories(agent_id, room_id, limit)
        return [room_memory(m) for m in found]


def room_memory(memory: Memory) -> RoomMemory:
    return RoomMemory(
        id=memory.id,
        entity_id=memory.entity_id,
        table=memory.table,
        text=memory.text,
        created_at_ms=memory.created_at_ms,
        fields=dict(memory.fields),
    )


@contextmanager
def _backing_services(doing: str) -> Iterator[None]:
    """A backing service's failure (typed by its client) as the runtime's own error,
    naming only its reason: its message may describe that service's internals."""
    try:
        yield
    except BACKING_SERVICE_ERRORS as exc:
        logger.warning("runtime %s: backing service %s: %s", doing, exc.reason, exc.message)
        raise backing_service_error(exc) from exc


def _check_agent_id(agent_id: str) -> str:
    if not agent_id:
        raise InvalidRuntimeRequest("agent_id is required")
    if len(agent_id) > MAX_AGENT_ID_CHARS:
        raise InvalidRuntimeRequest(f"agent_id must be at most {MAX_AGENT_ID_CHARS} characters")
    return agent_id


__all__ = [
    "DEFAULT_MEMORIES",
    "MAX_AGENT_ID_CHARS",
    "MAX_MEMORIES",
    "MAX_ROOM_ID_CHARS",
    "RuntimeHandler",
    "room_memory",
]
