"""The agents this runtime hosts: create, start, stop, talk to, and bring back.

    manager = await AgentManager.open(config=config, memory=memory, logs=registry,
                                      signer=runtime_client, admin=admin_client)
    view = await manager.create(document)            # keys in the enclave, log, loop
    result = await manager.send_message(view.agent_id, room_id="r1", text="hi")

Creating an agent asks the signer to derive its keys (the admin client's
CreateAgent; with no admin client the agent must already exist there, and
GetAgent finds it), opens its log, and persists it under
<data_dir>/agents/<id>/: the character document as given (mode 0600: it may
hold secrets) and agent.json (running flag, creation time, wallet addresses,
log verifier key). The data directory, agents/ and the logs root are created
owner-only (0700). `open` brings every persisted agent back in the state it
was left in, so a restarted runtime answers as before; an agent directory it
cannot read is skipped with a warning (and left as it is, for the operator), and
an agent that fails to start stays listed, stopped, with the reason in its view's
`problem`. Stopping keeps every piece of data; a stopped agent refuses messages
(AgentStopped).

Views never carry the character's secrets, and nothing here logs them.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import grpc

from anima_core.config import ConfigError
from anima_core.files import LockHeld, lock_exclusive
from anima_memory_api.types import REF_ID_PATTERN, REF_ID_RULE, Memory, MemoryFilter
from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.runtime import AgentRuntime, TurnLimits
from anima_runtime.agent.turn import TurnResult
from anima_runtime.character.load import load_character, parse_character
from anima_runtime.character.model import Character
from anima_runtime.config import RuntimeConfig, RuntimeLimits, SigningDefaults
from anima_runtime.errors import (
    AgentExists,
    AgentRuntimeError,
    AgentStopped,
    InvalidCharacter,
    InvalidMessage,
    UnknownAgent,
)
from anima_runtime.llm.base import ChatModel
from anima_runtime.llm.config import ModelConfig
from anima_runtime.llm.offline import OfflineModel
from anima_runtime.llm.select import chat_model_for
from anima_runtime.log.durable import fsync_dir, private_dirs
from anima_runtime.log.errors import LogError, SequencerFailed
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.service import AgentLog
from anima_runtime.plugins.registry import resolve_plugins
from anima_runtime.plugins.types import Plugin
from anima_runtime_api.types import AgentView
from anima_signer_api.types import Agent, SigningPolicy
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id
from anima_verify.errors import AnimaError, ErrorKind

logger = logging.getLogger(__name__)

CHARACTER_FILE = "character.json"
RECORD_FILE = "agent.json"
LOCK_FILE = ".lock"
RECORD_VERSION = 1
DEFAULT_ENTITY = "user"
_SLUG_CHARS: Final = 40
_ID_ATTEMPTS: Final = 5


# ---------------------------------------------------------------- errors


class InvalidAgentId(AgentRuntimeError):
    kind = ErrorKind.INVALID_ARGUMENT


class AgentKeysMissing(AgentRuntimeError):
    """The signer holds no keys for the agent and this runtime may not create them."""

    kind = ErrorKind.FAILED_PRECONDITION


class SignerUnavailable(AgentRuntimeError):
    """The signer could not be reached, or refused the runtime's own request."""

    kind = ErrorKind.UNAVAILABLE


# ---------------------------------------------------------------- what the manager uses


class AgentDirectory(Protocol):
    """Looks up an agent's public keys (the signer's GetAgent; runtime role)."""

    async def get_agent(self, agent_id: str) -> Agent: ...


class AgentCreator(AgentDirectory, Protocol):
    """Creates agents in the signer (CreateAgent; admin role): SignerClient as it is."""

    async def create_agent(
        self, agent_id: str, *, policy: SigningPolicy, wallet_count: int = 1
    ) -> Agent: ...


class AgentLoop(Protocol):
    """What the manager needs of a running agent (anima_runtime.agent.runtime.AgentRuntime)."""

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def handle_message(
        self, *, room_id: str, entity_id: str, text: str, user_name: str | None = None
    ) -> TurnResult: ...


#: Builds an agent's loop; takes AgentRuntime's keywords (agent_id, character, memory,
#: model, log, plugins, limits, knowledge_dir). The default is AgentRuntime itself.
RuntimeFactory = Callable[..., AgentLoop]
#: The chat model for a character (the configured one, or the character's own choice).
ModelFactory = Callable[[Character], ChatModel]


# ---------------------------------------------------------------- views and records


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """agent.json: what survives a restart besides the character and the log."""

    agent_id: str
    name: str
    running: bool
    created_at: str
    wallets: tuple[str, ...]
    log_verifier_key: str
    model: str = ""
    knowledge_dir: str | None = None

    def to_json(self) -> bytes:
        data = {
            "version": RECORD_VERSION,
            "agent_id": self.agent_id,
            "name": self.name,
            "running": self.running,
            "created_at": self.created_at,
            "wallets": list(self.wallets),
            "log_verifier_key": self.log_verifier_key,
            "model": self.model,
            "knowledge_dir": self.knowledge_dir,
        }
        return json.dumps(data, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> AgentRecord:
        try:
            doc = json.loads(data)
            if doc.get("version") != RECORD_VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            record = cls(
                agent_id=_typed(doc, "agent_id", str),
                name=_typed(doc, "name", str),
                running=_typed(doc, "running", bool),
                created_at=_typed(doc, "created_at", str),
                wallets=_strings(doc, "wallets"),
                log_verifier_key=_typed(doc, "log_verifier_key", str),
                model=_typed(doc, "model", str),
                knowledge_dir=_knowledge_dir(doc),
            )
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"agent record {source} is unreadable: {exc}") from None
        if record.agent_id != source.parent.name:
            raise ConfigError(f"agent record {source} names agent {record.agent_id!r}")
        return record


def _typed(doc: Mapping[str, Any], key: str, kind: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"{key} is not a {kind.__name__}")
    return value


def _strings(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _typed(doc, key, list)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{key} is not a list of strings")
    return tuple(items)


def _knowledge_dir(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("knowledge_dir")
    if value is not None and not (isinstance(value, str) and Path(value).is_absolute()):
        raise ValueError("knowledge_dir is neither null nor an absolute path")
    return value


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


# ---------------------------------------------------------------- the manager


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
    ) -> None:
        self._data_dir = data_dir
        self._agents_dir = data_dir / "agents"
        self._memory = memory
        self._logs = logs
        self._signer = signer
        self._admin = admin
        self._signing = signing or SigningDefaults()
        self._limits = limits or RuntimeLimits()
        self._model_factory = model_factory or configured_models(ModelConfig(), memory)
        self._runtime_factory = runtime_factory
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
        document = _document_bytes(parsed)
        # Its model fields are checked (InvalidCharacter) before any key is made.
        await self._model_factory(parsed).aclose()
        async with self._creating:
            keys, agent_id = await self._new_keys(parsed, agent_id)
            log = await self._logs.open(agent_id)
            plugins, unknown = resolve_plugins(parsed.plugins)
            record = AgentRecord(
                agent_id=agent_id,
                name=parsed.name,
                running=False,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                wallets=tuple(w.address for w in keys.wallets),
                log_verifier_key=keys.log_verifier_key,
                knowledge_dir=None if knowledge_dir is None else str(knowledge_dir),
            )
            await asyncio.to_thread(_write_new_agent, self._agents_dir / agent_id, document, record)
            hosted = _Hosted(record, parsed, log, tuple(plugins), tuple(unknown))
            self._agents[agent_id] = hosted
        logger.info("created agent %s (%s)", agent_id, parsed.name)
        if start:
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
                    hosted.problem = _describe(exc)
                    logger.warning(
                        "agent %s did not start: %s",
                        agent_id,
                        hosted.problem,
                        exc_info=not isinstance(exc, _KNOWN_FAILURES),
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
            raise UnknownAgent(f"no agent {agent_id!r} on this runtime")
        return hosted

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
            await asyncio.to_thread(_write_private, path, record.to_json())
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

    async def _new_keys(self, character: Character, agent_id: str | None) -> tuple[Agent, str]:
        """The agent's keys in the signer, created unless the runtime may not; its id."""
        if agent_id is not None:
            self._check_free(agent_id)
            return await self._keys_for(agent_id, adopt=True), agent_id
        if self._admin is None:
            raise InvalidAgentId(
                "agent_id is required: this runtime cannot create agents in the signer, "
                "so the agent must exist there already"
            )
        for _ in range(_ID_ATTEMPTS):
            candidate = derive_agent_id(character.name)
            if candidate in self._agents or (self._agents_dir / candidate).exists():
                continue
            with contextlib.suppress(_Taken):
                return await self._keys_for(candidate, adopt=False), candidate
        raise SignerUnavailable(
            f"no free agent id for {character.name!r} in {_ID_ATTEMPTS} attempts"
        )

    def _check_free(self, agent_id: str) -> None:
        if agent_id in self._agents or (self._agents_dir / agent_id).exists():
            raise AgentExists(f"agent {agent_id!r} already exists on this runtime")

    async def _keys_for(self, agent_id: str, *, adopt: bool) -> Agent:
        """CreateAgent with the admin client. An id the signer already holds is
        adopted (GetAgent) when the caller named it: the agent was created in the
        signer beforehand (`anima agent create`) and this runtime now hosts it."""
        if self._admin is not None:
            try:
                return await self._admin.create_agent(
                    agent_id,
                    policy=self._signing.policy(),
                    wallet_count=self._signing.wallet_count,
                )
            except _SIGNER_FAILURES as exc:
                if _signer_status(exc) != ErrorKind.ALREADY_EXISTS:
                    raise _signer_error(exc, f"creating agent {agent_id!r}") from exc
                if not adopt:
                    raise _Taken from None
        try:
            return await self._signer.get_agent(agent_id)
        except _SIGNER_FAILURES as exc:
            if _signer_status(exc) == ErrorKind.NOT_FOUND:
                raise AgentKeysMissing(
                    f"the signer has no agent {agent_id!r}, and this runtime has no admin "
                    "access to create it: create it in the signer first"
                ) from None
            raise _signer_error(exc, f"looking up agent {agent_id!r}") from exc

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
            record, character = await asyncio.to_thread(_read_agent, directory)
            log = await self._logs.open(record.agent_id)
        except SequencerFailed as exc:
            if _signer_status(exc.__cause__) != ErrorKind.NOT_FOUND:
                raise  # the signer is unreachable: no agent can come up, nor may the runtime
            logger.warning("skipping agent %s: %s", directory.name, _describe(exc))
            return None
        except (ConfigError, InvalidCharacter, LogError, OSError) as exc:
            logger.warning("skipping agent %s: %s", directory.name, _describe(exc))
            return None
        plugins, unknown = resolve_plugins(character.plugins)
        hosted = _Hosted(record, character, log, tuple(plugins), tuple(unknown))
        self._agents[record.agent_id] = hosted
        return hosted


class _Taken(Exception):
    """A derived id the signer already holds: try another."""


def configured_models(
    config: ModelConfig, memory: MemoryPort, *, production: bool = False
) -> ModelFactory:
    """The model each character talks to under `config` (models/select.py), the offline
    model (embedding through `memory`) wherever no endpoint is known."""

    def factory(character: Character) -> ChatModel:
        return chat_model_for(
            character,
            config,
            offline=lambda: OfflineModel(memory.embed),
            production=production,
        )

    return factory


def derive_agent_id(name: str) -> str:
    """An agent id from a character's name: its slug and a short random suffix
    ("Ada Lovelace" -> "ada-lovelace-3f9a1c")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:_SLUG_CHARS].strip("-") or "agent"
    return f"{slug}-{secrets.token_hex(3)}"


def _check_ref(what: str, value: str) -> None:
    if REF_ID_PATTERN.fullmatch(value) is None:
        raise InvalidMessage(f"{what} must be {REF_ID_RULE}")


#: How a signer call fails: its gRPC client, its in-process core, the network.
_SIGNER_FAILURES = (grpc.aio.AioRpcError, AnimaError, OSError)


#: How an agent's start fails in ways this runtime expects; anything else is logged
#: with its traceback.
_KNOWN_FAILURES = (AnimaError, grpc.aio.AioRpcError, OSError)


def _describe(exc: BaseException) -> str:
    """Why something failed, for a view or a warning: the runtime's own messages (they
    never carry secrets), the signer's status, or only the kind of an unknown error."""
    if isinstance(exc, AnimaError):
        return exc.message
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, OSError):
        return str(exc)
    return f"unexpected {type(exc).__name__}; see the runtime's log"


def _signer_status(exc: BaseException | None) -> ErrorKind | None:
    """What the signer said, from its gRPC client or its in-process core."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return {
            grpc.StatusCode.ALREADY_EXISTS: ErrorKind.ALREADY_EXISTS,
            grpc.StatusCode.NOT_FOUND: ErrorKind.NOT_FOUND,
        }.get(exc.code())
    if isinstance(exc, AnimaError):
        return exc.kind
    return None


def _signer_error(exc: BaseException, doing: str) -> SignerUnavailable:
    if isinstance(exc, grpc.aio.AioRpcError):
        return SignerUnavailable(f"signer, {doing}: {exc.code().name}: {exc.details()}")
    if isinstance(exc, AnimaError):
        return SignerUnavailable(f"signer, {doing}: {exc.message}")
    return SignerUnavailable(f"signer, {doing}: {exc}")


def _document_bytes(character: Character) -> bytes:
    document = character.document()
    if not document:  # built in code, not loaded from a document: nothing to write back
        raise InvalidCharacter(
            f"character {character.name!r} has no document to persist; load or parse one"
        )
    return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"


def _read_agent(directory: Path) -> tuple[AgentRecord, Character]:
    path = directory / RECORD_FILE
    return AgentRecord.from_json(path.read_bytes(), path), load_character(
        directory / CHARACTER_FILE
    )


def _write_new_agent(directory: Path, document: bytes, record: AgentRecord) -> None:
    directory.mkdir(mode=0o700)
    _write_private(directory / CHARACTER_FILE, document)
    _write_private(directory / RECORD_FILE, record.to_json())
    fsync_dir(directory.parent)


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only file, replaced atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover tmp file kept its old mode
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)  # the rename itself survives a power cut


__all__ = [
    "AgentCreator",
    "AgentDirectory",
    "AgentKeysMissing",
    "AgentLoop",
    "AgentManager",
    "AgentRecord",
    "AgentView",
    "InvalidAgentId",
    "ModelFactory",
    "RuntimeFactory",
    "SignerUnavailable",
    "configured_models",
    "derive_agent_id",
]
