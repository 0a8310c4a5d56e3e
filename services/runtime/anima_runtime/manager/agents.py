"""AgentManager: the agents this runtime hosts, their lifecycle and their turns.

See anima_runtime.manager for what it keeps where, and how a restart brings agents back.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anima_core.config import ConfigError
from anima_core.files import LockHeld, lock_exclusive
from anima_memory_api.types import REF_ID_PATTERN, REF_ID_RULE, Memory, MemoryFilter
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.runtime import AgentRuntime, TurnLimits
from anima_runtime.agent.turn import TurnResult
from anima_runtime.character.load import parse_character
from anima_runtime.character.model import Character
from anima_runtime.config import RuntimeConfig, RuntimeLimits, SigningDefaults
from anima_runtime.errors import (
    AgentAlreadyExists,
    AgentNotFound,
    AgentStopped,
    InvalidAgentId,
    InvalidAgentRecord,
    InvalidCharacter,
    InvalidMessage,
)
from anima_runtime.llm.base import ChatModel
from anima_runtime.llm.config import ModelConfig
from anima_runtime.log.durable import private_dirs
from anima_runtime.log.errors import LogError, SequencerFailed
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.service import AgentLog
from anima_runtime.manager.failures import KNOWN_FAILURES, describe
from anima_runtime.manager.keys import AgentKeys
from anima_runtime.manager.portable import export_record, parse_record
from anima_runtime.manager.ports import (
    AgentCreator,
    AgentDirectory,
    AgentLoop,
    ModelFactory,
    RuntimeFactory,
    configured_models,
)
from anima_runtime.manager.records import (
    RECORD_FILE,
    AgentRecord,
    document_bytes,
    read_agent,
    write_new_agent,
    write_private,
)
from anima_runtime.plugins.registry import BUILTIN_PLUGINS, resolve_plugins
from anima_runtime.plugins.types import Plugin
from anima_runtime_api.types import AgentView
from anima_signer_api.errors import UnknownAgent
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id
from anima_verify.tlog.note import parse_verifier_key

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
DEFAULT_ENTITY = "user"


@dataclass(eq=False)
class _Hosted:
    record: AgentRecord
    character: Character
    log: AgentLog
    plugins: tuple[Plugin, ...]
    unknown_plugins: tuple[str, ...]
    loop: AgentLoop | None = None
    model: ChatModel | None = None
    problem: str | None = None  # why its last start failed
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def running(self) -> bool:
        return self.loop is not None and self.loop.running


class AgentManager:
    """Hosts agents; use `AgentManager.open`. Methods run on one event loop."""

    def __init__(
        self,
        *,
        data_dir: Path,
        memory: MemoryPort,
        logs: LogRegistry,
        signer: AgentDirectory,
        admin: AgentCreator | None = None,
        signing: SigningDefaults | None = None,
        limits: RuntimeLimits | None = None,
        model_factory: ModelFactory | None = None,
        runtime_factory: RuntimeFactory = AgentRuntime,
        plugins: Mapping[str, Callable[[], Plugin]] | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._agents_dir = data_dir / "agents"
        self._memory = memory
        self._logs = logs
        self._keys = AgentKeys(signer=signer, admin=admin, signing=signing or SigningDefaults())
        self._limits = limits or RuntimeLimits()
        self._model_factory = model_factory or configured_models(ModelConfig(), memory)
        self._runtime_factory = runtime_factory
        # Built-in plugins plus the ones this runtime was wired for (the EVM plugin
        # when it has a chain client); a character naming another is told so.
        self._plugins = {**BUILTIN_PLUGINS, **(plugins or {})}
        self._agents: dict[str, _Hosted] = {}
        self._creating = asyncio.Lock()
        self._lock_fd: int | None = None

    @classmethod
    async def open(
        cls,
        *,
        config: RuntimeConfig,
        memory: MemoryPort,
        logs: LogRegistry,
        signer: AgentDirectory,
        admin: AgentCreator | None = None,
        model_factory: ModelFactory | None = None,
        runtime_factory: RuntimeFactory = AgentRuntime,
        plugins: Mapping[str, Callable[[], Plugin]] | None = None,
    ) -> AgentManager:
        """A manager over config.data_dir with every persisted agent back in the state
        it was left in. One runtime per data directory (ConfigError if another holds it)."""
        manager = cls(
            data_dir=config.data_dir,
            memory=memory,
            logs=logs,
            signer=signer,
            admin=admin,
            signing=config.signing,
            limits=config.limits,
            model_factory=model_factory
            or configured_models(config.model, memory, production=config.production),
            runtime_factory=runtime_factory,
            plugins=plugins,
        )
        try:
            await manager._load()
        except BaseException:
            await manager.close()
            raise
        return manager

    @property
    def logs(self) -> LogRegistry:
        """The agents' logs (mount `log_router` over it to serve them)."""
        return self._logs

    @property
    def limits(self) -> RuntimeLimits:
        return self._limits

    # ------------------------------------------------------------ lifecycle

    async def create(
        self,
        character: Mapping[str, Any] | Character,
        *,
        agent_id: str | None = None,
        start: bool = True,
        knowledge_dir: Path | None = None,
    ) -> AgentView:
        """Create an agent from an ElizaOS character (document or parsed) and, unless
        `start` is false, start it. Without `agent_id` one is derived from the name.

        If the agent is created but fails to start, it stays, stopped: its view (with
        the id its keys and log exist under) is returned with `problem` saying why,
        so the caller can start it again later instead of creating another."""
        parsed = (
            character
            if isinstance(character, Character)
            else parse_character(character, source="character")
        )
        if agent_id is not None and not is_agent_id(agent_id):
            raise InvalidAgentId(f"agent_id must be {AGENT_ID_RULE}")
        if knowledge_dir is not None and not knowledge_dir.is_absolute():
            raise ValueError("knowledge_dir must be an absolute path")
        document = document_bytes(parsed)
        # Its model fields are checked (InvalidCharacter) before any key is made.
        await self._model_factory(parsed).aclose()
        async with self._creating:
            keys, agent_id = await self._keys.for_new_agent(parsed, agent_id, taken=self._taken)
            log = await self._logs.open(agent_id)
            plugins, unknown = resolve_plugins(parsed.plugins, builtins=self._plugins)
            record = AgentRecord(
                agent_id=agent_id,
                name=parsed.name,
                running=False,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                wallets=tuple(w.address for w in keys.wallets),
                log_verifier_key=keys.log_verifier_key,
                knowledge_dir=None if knowledge_dir is None else str(knowledge_dir),
            )
            await asyncio.to_thread(write_new_agent, self._agents_dir / agent_id, document, record)
            hosted = _Hosted(record, parsed, log, tuple(plugins), tuple(unknown))
            self._agents[agent_id] = hosted
        logger.info("created agent %s (%s)", agent_id, parsed.name)
        if start:
            await self._try_start(hosted)
        return self._view(hosted)

    def export(self, agent_id: str) -> bytes:
        """The agent's portable record (manager/portable.py) for its life data."""
        hosted = self._hosted(agent_id)
        return export_record(hosted.record, hosted.character)

    async def restore(
        self,
        agent_id: str,
        record_json: bytes,
        *,
        log_entries: Sequence[bytes] = (),
        checkpoint: bytes = b"",
    ) -> AgentView:
        """Host an agent restored into the signer from its exported record, and start it.

        Checked before anything is written: the record (InvalidAgentRecord), that it
        names `agent_id`, that no agent of that id is here (AgentAlreadyExists), and
        that its wallets and log key are the signer's (AgentKeysMissing if the signer
        has no such agent). The restored log seeds the log storage (checked against the
        log key: CheckpointRejected), which then syncs from the signer."""
        if not is_agent_id(agent_id):
            raise InvalidAgentId(f"agent_id must be {AGENT_ID_RULE}")
        portable = parse_record(record_json)
        if portable.record.agent_id != agent_id:
            raise InvalidAgentRecord(
                f"the agent record names agent {portable.record.agent_id!r}, not {agent_id!r}"
            )
        await self._model_factory(portable.character).aclose()
        async with self._creating:
            if self._taken(agent_id):
                raise AgentAlreadyExists(f"agent {agent_id!r} already exists on this runtime")
            keys = await self._keys.restored(agent_id)
            wallets = tuple(w.address for w in keys.wallets)
            if (wallets, keys.log_verifier_key) != (
                portable.record.wallets,
                portable.record.log_verifier_key,
            ):
                raise InvalidAgentRecord(
                    f"the agent record's wallets or log key are not the signer's for {agent_id!r}"
                )
            if log_entries or checkpoint:
                await self._logs.seed(
                    agent_id,
                    verifier=parse_verifier_key(keys.log_verifier_key),
                    entries=log_entries,
                    checkpoint=checkpoint,
                )
            log = await self._logs.open(agent_id)
            record = replace(portable.record, running=False)
            document = document_bytes(portable.character)
            await asyncio.to_thread(write_new_agent, self._agents_dir / agent_id, document, record)
            plugins, unknown = resolve_plugins(portable.character.plugins, builtins=self._plugins)
            hosted = _Hosted(record, portable.character, log, tuple(plugins), tuple(unknown))
            self._agents[agent_id] = hosted
        logger.info("restored agent %s (%s), log size %d", agent_id, record.name, log.size)
        await self._try_start(hosted)
        return self._view(hosted)

    async def start(self, agent_id: str) -> AgentView:
        """Start a stopped agent (a running one is left as it is). If it fails, the
        error is raised and the agent's view keeps the reason (`problem`)."""
        hosted = self._hosted(agent_id)
        async with hosted.lock:
            if hosted.loop is None:
                try:
                    await self._start(hosted)
                except Exception as exc:
                    hosted.problem = describe(exc)
                    logger.warning(
                        "agent %s did not start: %s",
                        agent_id,
                        hosted.problem,
                        exc_info=not isinstance(exc, KNOWN_FAILURES),
                    )
                    raise
            await self._persist(hosted, running=True)
        return self._view(hosted)

    async def stop(self, agent_id: str) -> AgentView:
        """Stop an agent, keeping its character, keys, log and memories."""
        hosted = self._hosted(agent_id)
        async with hosted.lock:
            await self._persist(hosted, running=False)
            await self._stop(hosted)
            hosted.problem = None
        return self._view(hosted)

    async def close(self) -> None:
        """Stop every agent's loop without changing what is persisted: reopening the
        data directory brings the running ones back. The registry, memory and signer
        clients stay open: their owner closes them."""
        try:
            for hosted in list(self._agents.values()):
                async with hosted.lock:
                    try:
                        await self._stop(hosted)
                    except Exception:  # one agent's failure must not keep the others running
                        logger.exception("agent %s did not stop cleanly", hosted.record.agent_id)
            self._agents.clear()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # ------------------------------------------------------------ queries

    def list(self) -> list[AgentView]:
        return [self._view(h) for _, h in sorted(self._agents.items())]

    def get(self, agent_id: str) -> AgentView:
        return self._view(self._hosted(agent_id))

    def character(self, agent_id: str) -> Character:
        return self._hosted(agent_id).character

    async def send_message(
        self,
        agent_id: str,
        *,
        room_id: str,
        text: str,
        entity_id: str | None = None,
        user_name: str | None = None,
    ) -> TurnResult:
        """One turn: the agent hears `text` in `room_id` from `entity_id` (default
        "user") and answers. The loop checks the message (InvalidMessage)."""
        hosted = self._hosted(agent_id)
        loop = hosted.loop
        if loop is None or not loop.running:
            raise AgentStopped(f"agent {agent_id!r} is stopped; start it first")
        return await loop.handle_message(
            room_id=room_id,
            entity_id=DEFAULT_ENTITY if entity_id is None else entity_id,
            text=text,
            user_name=user_name,
        )

    async def room_memories(
        self, agent_id: str, room_id: str, limit: int = 20
    ) -> builtins.list[Memory]:
        """The room's latest `limit` memories (every table), oldest first."""
        self._hosted(agent_id)
        _check_ref("room_id", room_id)
        if not 1 <= limit <= self._limits.max_memories:
            raise InvalidMessage(f"limit must be between 1 and {self._limits.max_memories}")
        newest_first = await self._memory.recent(
            MemoryFilter(agent_id=agent_id, room_id=room_id), limit
        )
        return newest_first[::-1]

    # ------------------------------------------------------------ internals

    def _hosted(self, agent_id: str) -> _Hosted:
        hosted = self._agents.get(agent_id)
        if hosted is None:
            raise AgentNotFound(f"no agent {agent_id!r} on this runtime")
        return hosted

    def _taken(self, agent_id: str) -> bool:
        """Whether an agent of this id is hosted here, or its directory exists (one this
        runtime could not read stays taken, for the operator)."""
        return agent_id in self._agents or (self._agents_dir / agent_id).exists()

    def _view(self, hosted: _Hosted) -> AgentView:
        record = hosted.record
        return AgentView(
            agent_id=record.agent_id,
            name=record.name,
            running=hosted.running,
            created_at=record.created_at,
            wallets=record.wallets,
            log_verifier_key=record.log_verifier_key,
            plugins=tuple(p.name for p in hosted.plugins),
            unknown_plugins=hosted.unknown_plugins,
            model=hosted.model.name if hosted.model is not None else record.model,
            problem=None if hosted.running else hosted.problem,
        )

    async def _try_start(self, hosted: _Hosted) -> bool:
        """start(), its failure logged by it and kept in the view (`problem`)."""
        try:
            await self.start(hosted.record.agent_id)
        except Exception:
            return False
        return True

    async def _persist(self, hosted: _Hosted, *, running: bool) -> None:
        model = hosted.model.name if hosted.model is not None else hosted.record.model
        record = replace(hosted.record, running=running, model=model)
        if record != hosted.record:
            path = self._agents_dir / record.agent_id / RECORD_FILE
            await asyncio.to_thread(write_private, path, record.to_json())
            hosted.record = record

    async def _start(self, hosted: _Hosted) -> None:
        record = hosted.record
        model = self._model_factory(hosted.character)
        try:
            loop = self._runtime_factory(
                agent_id=record.agent_id,
                character=hosted.character,
                memory=self._memory,
                model=model,
                log=hosted.log,
                plugins=list(hosted.plugins),
                limits=TurnLimits(max_message_bytes=self._limits.max_message_bytes),
                knowledge_dir=None if record.knowledge_dir is None else Path(record.knowledge_dir),
            )
            await loop.start()
        except BaseException:
            await model.aclose()
            raise
        hosted.loop, hosted.model, hosted.problem = loop, model, None
        logger.info("started agent %s with model %s", record.agent_id, model.name)

    async def _stop(self, hosted: _Hosted) -> None:
        loop, model = hosted.loop, hosted.model
        hosted.loop = None  # refuse new messages at once
        try:
            if loop is not None:
                await loop.stop()
        finally:
            if model is not None:
                hosted.model = None
                await model.aclose()
        if loop is not None:
            logger.info("stopped agent %s", hosted.record.agent_id)

    async def _load(self) -> None:
        # Owner-only from the top: the agents' characters hold secrets, the logs the
        # payloads of what users said.
        for directory in (self._data_dir, self._agents_dir, self._logs.root):
            await asyncio.to_thread(private_dirs, directory)
        try:
            self._lock_fd = lock_exclusive(self._agents_dir / LOCK_FILE)
        except LockHeld as exc:
            raise ConfigError(f"another runtime uses {self._agents_dir}: {exc}") from None
        for directory in sorted(p for p in self._agents_dir.iterdir() if p.is_dir()):
            if not is_agent_id(directory.name) or not (directory / RECORD_FILE).exists():
                logger.warning("skipping %s: not an agent directory", directory)
                continue
            hosted = await self._load_agent(directory)
            if hosted is not None and hosted.record.running:
                # One agent must not keep the others down. One that fails stays marked
                # running, so the next restart tries again; POST .../start retries now.
                await self._try_start(hosted)

    async def _load_agent(self, directory: Path) -> _Hosted | None:
        """One persisted agent, hosted (not started); None, with a warning, when its
        directory or log cannot be read: the others must still come up."""
        try:
            record, character = await asyncio.to_thread(read_agent, directory)
            log = await self._logs.open(record.agent_id)
        except SequencerFailed as exc:
            if not isinstance(exc.__cause__, UnknownAgent):
                raise  # the signer is unreachable: no agent can come up, nor may the runtime
            logger.warning("skipping agent %s: %s", directory.name, describe(exc))
            return None
        except (ConfigError, InvalidCharacter, LogError, OSError) as exc:
            logger.warning("skipping agent %s: %s", directory.name, describe(exc))
            return None
        plugins, unknown = resolve_plugins(character.plugins, builtins=self._plugins)
        hosted = _Hosted(record, character, log, tuple(plugins), tuple(unknown))
        self._agents[record.agent_id] = hosted
        return hosted


def _check_ref(what: str, value: str) -> None:
    if REF_ID_PATTERN.fullmatch(value) is None:
        raise InvalidMessage(f"{what} must be {REF_ID_RULE}")
