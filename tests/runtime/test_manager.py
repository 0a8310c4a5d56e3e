"""AgentManager with real parts: a signer core on the INSECURE simulated TEE (keys and log
sequencing), the memory service core over an embedded store with MiniLM, the real agent
loop with the offline model, and the agents' logs on disk. Creating, talking, stopping,
and a restart that brings every agent back as it was left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from anima_core.auth import token_digest
from anima_core.config import ConfigError
from anima_dev.inprocess_log import InProcessSequencer
from anima_memory.service import CreateResult, MemoryDraft, MemoryService
from anima_memory_api.errors import StoreUnavailable
from anima_runtime.api.schemas import AgentOut
from anima_runtime.config import RuntimeConfig
from anima_runtime.errors import (
    AgentAlreadyExists,
    AgentNotFound,
    AgentStopped,
    InvalidCharacter,
    InvalidMessage,
)
from anima_runtime.log.registry import LogRegistry
from anima_runtime.manager import (
    AgentKeysMissing,
    AgentManager,
    AgentRecord,
    AgentView,
    InvalidAgentId,
    SignerUnavailable,
    derive_agent_id,
)
from anima_signer.core import Signer
from anima_signer_api.errors import SignerUnreachable
from anima_signer_api.types import Agent, SigningPolicy
from anima_verify.agent_id import is_agent_id
from anima_verify.tlog.entry import EntryKind, decode_entry
from tests.runtime.conftest import AGENT as SIGNER_AGENT

ADA = Path(__file__).resolve().parents[2] / "examples" / "characters" / "ada.character.json"
API_TOKEN = "test-runtime-api-token"
#: Planted in the character's secrets: no view, response, record or log entry may show it.
SECRET = "sk-PLANTED-secret-value-0123456789"


def ada_document(**changes: Any) -> dict[str, Any]:
    """The demo character with a secret planted (and any top-level changes)."""
    document: dict[str, Any] = json.loads(ADA.read_text(encoding="utf-8"))
    document["settings"] = {"secrets": {"OPENAI_API_KEY": SECRET}}
    document.update(changes)
    return document


class InProcessAdmin:
    """The signer core's CreateAgent/GetAgent as SignerClient offers them (async),
    for a runtime in the same process as its signer."""

    def __init__(self, core: Signer) -> None:
        self._core = core

    async def create_agent(
        self, agent_id: str, *, policy: SigningPolicy, wallet_count: int = 1, owner: str = ""
    ) -> Agent:
        return await asyncio.to_thread(
            self._core.create_agent,
            agent_id=agent_id,
            wallet_count=wallet_count,
            policy=policy,
            owner=owner,
        )

    async def get_agent(self, agent_id: str) -> Agent:
        return await asyncio.to_thread(self._core.get_agent, agent_id)


@dataclass
class Host:
    """Opens managers over one data directory, as a runtime process would."""

    config: RuntimeConfig
    memory: MemoryService
    signer: Signer
    _open: list[tuple[AgentManager, LogRegistry]] = field(default_factory=list)

    async def open(self, *, admin: bool = True) -> AgentManager:
        registry = LogRegistry(
            root=self.config.log.root,
            sequencer=InProcessSequencer(self.signer),
            sync_interval_s=None,
        )
        keys = InProcessAdmin(self.signer)
        try:
            manager = await AgentManager.open(
                config=self.config,
                memory=self.memory,
                logs=registry,
                signer=keys,
                admin=keys if admin else None,
            )
        except BaseException:
            await registry.close()
            raise
        self._open.append((manager, registry))
        return manager

    async def close(self, manager: AgentManager) -> None:
        for n, (opened, registry) in enumerate(self._open):
            if opened is manager:
                del self._open[n]
                await manager.close()
                await registry.close()
                return

    async def close_all(self) -> None:
        while self._open:
            await self.close(self._open[-1][0])


def runtime_config(tmp_path: Path, **changes: Any) -> RuntimeConfig:
    return RuntimeConfig.model_validate(
        {
            "data_dir": tmp_path / "runtime",
            "api_token_sha256s": [token_digest(API_TOKEN)],
            **changes,
        }
    )


@contextlib.asynccontextmanager
async def hosting(tmp_path: Path, signer: Signer, memory: MemoryService) -> AsyncIterator[Host]:
    """A Host whose managers are all closed at the end (the `host` fixture's body)."""
    opened = Host(runtime_config(tmp_path), memory, signer)
    try:
        yield opened
    finally:
        await opened.close_all()


@pytest.fixture
async def host(tmp_path: Path, signer: Signer, memory: MemoryService) -> AsyncIterator[Host]:
    async with hosting(tmp_path, signer, memory) as opened:
        yield opened


@pytest.fixture
async def manager(host: Host) -> AgentManager:
    return await host.open()


def assert_no_secret(value: object) -> None:
    assert SECRET not in repr(value)
    assert SECRET not in json.dumps(value, default=repr)


# ---------------------------------------------------------------- create


async def test_create_derives_an_id_makes_keys_and_persists_the_agent(
    manager: AgentManager, host: Host
) -> None:
    view = await manager.create(ada_document())

    assert view.name == "Ada" and view.running
    assert view.agent_id.startswith("ada-") and is_agent_id(view.agent_id)
    keys = host.signer.get_agent(view.agent_id)
    assert view.wallets == tuple(w.address for w in keys.wallets)
    assert view.log_verifier_key == keys.log_verifier_key
    assert view.plugins == ("bootstrap",) and view.unknown_plugins == ()
    assert view.model.startswith("offline")
    assert_no_secret(view)

    directory = host.config.data_dir / "agents" / view.agent_id
    character = directory / "character.json"
    assert stat.S_IMODE(character.stat().st_mode) == 0o600  # it holds the secret
    assert json.loads(character.read_text()) == ada_document()  # as given, secrets too
    record = json.loads((directory / "agent.json").read_text())
    assert record["running"] is True
    assert record["wallets"] == list(view.wallets)
    assert record["log_verifier_key"] == view.log_verifier_key
    assert_no_secret(record)
    assert manager.list() == [view] and manager.get(view.agent_id) == view


async def test_a_named_agent_keeps_its_id_and_may_start_stopped(manager: AgentManager) -> None:
    view = await manager.create(ada_document(), agent_id="ada-named", start=False)
    assert view.agent_id == "ada-named" and not view.running
    with pytest.raises(AgentStopped):
        await manager.send_message("ada-named", room_id="r1", text="hello")


async def test_existing_unknown_and_malformed_ids_are_refused(manager: AgentManager) -> None:
    await manager.create(ada_document(), agent_id="ada-one", start=False)
    with pytest.raises(AgentAlreadyExists, match="ada-one"):
        await manager.create(ada_document(), agent_id="ada-one")
    with pytest.raises(InvalidAgentId, match="lowercase"):
        await manager.create(ada_document(), agent_id="Ada One")
    with pytest.raises(AgentNotFound, match="nobody"):
        manager.get("nobody")
    with pytest.raises(AgentNotFound):
        await manager.send_message("nobody", room_id="r1", text="hi")
    with pytest.raises(AgentNotFound):
        await manager.room_memories("nobody", "r1")


async def test_an_invalid_character_names_the_field_and_creates_nothing(
    manager: AgentManager, host: Host
) -> None:
    bad = ada_document(bio=42)
    with pytest.raises(InvalidCharacter, match="bio"):
        await manager.create(bad, agent_id="ada-bad")
    assert manager.list() == []
    assert not (host.config.data_dir / "agents" / "ada-bad").exists()
    with pytest.raises(Exception, match="ada-bad"):
        host.signer.get_agent("ada-bad")


async def test_unusable_model_fields_are_refused_before_keys_are_made(
    manager: AgentManager, host: Host
) -> None:
    bad = ada_document(modelProvider="openai")
    bad["settings"]["modelEndpointOverride"] = "ftp://models.example"
    with pytest.raises(InvalidCharacter, match="modelEndpointOverride"):
        await manager.create(bad, agent_id="ada-ftp")
    assert manager.list() == []
    with pytest.raises(Exception, match="ada-ftp"):
        host.signer.get_agent("ada-ftp")


class UnreachableSigner:
    """A signer client whose every call fails as SignerClient reports a signer that is gone."""

    async def create_agent(
        self, agent_id: str, *, policy: SigningPolicy, wallet_count: int = 1, owner: str = ""
    ) -> Agent:
        raise SignerUnreachable("UNAVAILABLE", "failed to connect to all addresses")

    async def get_agent(self, agent_id: str) -> Agent:
        raise SignerUnreachable("UNAVAILABLE", "failed to connect to all addresses")


async def test_a_signer_that_is_gone_is_signer_unavailable_and_nothing_is_kept(
    host: Host,
) -> None:
    registry = LogRegistry(
        root=host.config.log.root, sequencer=InProcessSequencer(host.signer), sync_interval_s=None
    )
    gone = UnreachableSigner()
    manager = await AgentManager.open(
        config=host.config, memory=host.memory, logs=registry, signer=gone, admin=gone
    )
    try:
        expected = "signer, creating agent 'ada-gone': UNAVAILABLE: failed to connect"
        with pytest.raises(SignerUnavailable, match=expected) as info:
            await manager.create(ada_document(), agent_id="ada-gone")
        assert info.value.reason == "SIGNER_UNAVAILABLE"
        assert manager.list() == []
        assert not (host.config.data_dir / "agents" / "ada-gone").exists()
    finally:
        await manager.close()
        await registry.close()


async def test_an_agent_the_signer_already_holds_is_adopted_under_its_name(
    manager: AgentManager, host: Host
) -> None:
    view = await manager.create(ada_document(), agent_id=SIGNER_AGENT, start=False)
    keys = host.signer.get_agent(SIGNER_AGENT)
    assert view.log_verifier_key == keys.log_verifier_key


async def test_without_admin_access_the_agent_must_exist_in_the_signer(host: Host) -> None:
    manager = await host.open(admin=False)
    view = await manager.create(ada_document(), agent_id=SIGNER_AGENT)
    assert view.running
    with pytest.raises(AgentKeysMissing, match="create it in the signer first"):
        await manager.create(ada_document(), agent_id="ada-missing")
    with pytest.raises(InvalidAgentId, match="agent_id is required"):
        await manager.create(ada_document())


def test_derived_ids_follow_the_agent_id_grammar() -> None:
    for name, prefix in [
        ("Ada", "ada-"),
        ("Ada Lovelace", "ada-lovelace-"),
        ("C-3PO", "c-3po-"),
        ("Zoë  Ünal", "zoe-unal-"),
        ("!!!", "agent-"),
        ("名前", "agent-"),
        ("x" * 200, "x" * 40 + "-"),
    ]:
        agent_id = derive_agent_id(name)
        assert agent_id.startswith(prefix) and is_agent_id(agent_id), (name, agent_id)
    assert derive_agent_id("Ada") != derive_agent_id("Ada")


# ---------------------------------------------------------------- talking


async def test_a_message_is_answered_logged_and_remembered(
    manager: AgentManager, host: Host
) -> None:
    view = await manager.create(ada_document())
    turn = await manager.send_message(
        view.agent_id, room_id="room-1", text="Who are you?", entity_id="bob", user_name="Bob"
    )
    assert turn.agent_id == view.agent_id and turn.room_id == "room-1"
    [reply] = turn.responses
    assert "Ada" in reply.text  # the character's own answer from its messageExamples
    assert turn.message_log_index < reply.log_index
    assert_no_secret(turn)

    log = manager.logs.get(view.agent_id)
    assert log.size > max(reply.log_index, *(a.log_index for a in turn.actions))
    entry = decode_entry(
        log.store.read_entries(turn.message_log_index, turn.message_log_index + 1)[0]
    )
    assert entry.kind == EntryKind.MESSAGE_IN and entry.actor == "bob" and entry.room == "room-1"

    memories = await manager.room_memories(view.agent_id, "room-1")
    assert [(m.entity_id, m.text) for m in memories[:2]] == [
        ("bob", "Who are you?"),
        (view.agent_id, reply.text),
    ]
    assert memories == sorted(memories, key=lambda m: m.created_at_ms)  # oldest first
    assert len(await manager.room_memories(view.agent_id, "room-1", limit=1)) == 1
    assert await manager.room_memories(view.agent_id, "elsewhere") == []


async def test_bad_messages_and_limits_are_refused(tmp_path: Path, host: Host) -> None:
    host.config = runtime_config(tmp_path, limits={"max_message_bytes": 64})
    manager = await host.open()
    view = await manager.create(ada_document())
    with pytest.raises(InvalidMessage, match="64"):
        await manager.send_message(view.agent_id, room_id="r1", text="x" * 65)
    with pytest.raises(InvalidMessage, match="empty"):
        await manager.send_message(view.agent_id, room_id="r1", text="   ")
    with pytest.raises(InvalidMessage, match="room_id"):
        await manager.send_message(view.agent_id, room_id="a room", text="hi")
    with pytest.raises(InvalidMessage, match="entity_id"):
        await manager.send_message(view.agent_id, room_id="r1", text="hi", entity_id="")
    with pytest.raises(InvalidMessage, match="limit"):
        await manager.room_memories(view.agent_id, "r1", limit=0)
    with pytest.raises(InvalidMessage, match="room_id"):
        await manager.room_memories(view.agent_id, "a/room")


async def test_stop_keeps_everything_and_start_resumes(manager: AgentManager, host: Host) -> None:
    view = await manager.create(ada_document())
    first = await manager.send_message(view.agent_id, room_id="r1", text="Who are you?")

    stopped = await manager.stop(view.agent_id)
    assert not stopped.running and stopped.model == view.model
    record = json.loads(
        (host.config.data_dir / "agents" / view.agent_id / "agent.json").read_text()
    )
    assert record["running"] is False
    with pytest.raises(AgentStopped, match="start it first"):
        await manager.send_message(view.agent_id, room_id="r1", text="Are you there?")
    assert len(await manager.room_memories(view.agent_id, "r1")) >= 2  # memories stay readable
    assert manager.logs.get(view.agent_id).size > first.responses[0].log_index  # so does the log
    assert (await manager.stop(view.agent_id)).running is False  # stopping twice is fine

    assert (await manager.start(view.agent_id)).running
    again = await manager.send_message(view.agent_id, room_id="r1", text="Who are you?")
    assert again.message_log_index > first.responses[0].log_index


# ---------------------------------------------------------------- restart


async def test_a_reopened_runtime_brings_agents_back_as_they_were(host: Host) -> None:
    manager = await host.open()
    running = await manager.create(ada_document(), agent_id="ada-running")
    stopped = await manager.create(ada_document(name="Ada Two"), agent_id="ada-stopped")
    await manager.stop(stopped.agent_id)
    turn = await manager.send_message(running.agent_id, room_id="r1", text="Who are you?")
    size = manager.logs.get(running.agent_id).size
    await host.close(manager)

    reopened = await host.open()
    views = {v.agent_id: v for v in reopened.list()}
    assert set(views) == {"ada-running", "ada-stopped"}
    assert views["ada-running"].running and not views["ada-stopped"].running
    for before in (running, stopped):
        after = views[before.agent_id]
        assert (after.name, after.wallets, after.log_verifier_key, after.created_at) == (
            before.name,
            before.wallets,
            before.log_verifier_key,
            before.created_at,
        )
    assert reopened.logs.get("ada-running").size >= size
    remembered = await reopened.room_memories("ada-running", "r1")
    assert turn.responses[0].text in [m.text for m in remembered]
    later = await reopened.send_message("ada-running", room_id="r1", text="Who are you?")
    assert later.message_log_index >= size
    assert reopened.character("ada-running").secret("OPENAI_API_KEY") == SECRET
    with pytest.raises(AgentStopped):
        await reopened.send_message("ada-stopped", room_id="r1", text="hi")


async def test_one_runtime_per_data_directory(manager: AgentManager, host: Host) -> None:
    with pytest.raises(ConfigError, match="another runtime"):
        await host.open()


async def test_one_bad_agent_directory_stops_the_runtime_from_starting(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """The bug: a corrupt agent.json or character.json of one agent made `open` raise,
    so no agent came up. The bad ones are skipped with a warning and left as they are
    (their ids stay taken); the others come up."""
    manager = await host.open()
    await manager.create(ada_document(), agent_id="good-one")
    await manager.create(ada_document(), agent_id="bad-record")
    await manager.create(ada_document(), agent_id="bad-character")
    await host.close(manager)
    agents = host.config.data_dir / "agents"
    record = agents / "bad-record" / "agent.json"
    record.write_text(json.dumps(json.loads(record.read_text()) | {"running": "yes"}))
    (agents / "bad-character" / "character.json").write_text('{"name": 5}')

    with caplog.at_level(logging.WARNING, logger="anima_runtime.manager"):
        reopened = await host.open()

    assert [(v.agent_id, v.running) for v in reopened.list()] == [("good-one", True)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("bad-record" in w and "running" in w for w in warnings), warnings
    assert any("bad-character" in w and "name" in w for w in warnings), warnings
    assert_no_secret(warnings)
    assert json.loads(record.read_text())["running"] == "yes"  # left for the operator
    with pytest.raises(AgentAlreadyExists):
        await reopened.create(ada_document(), agent_id="bad-character")


async def test_a_corrupt_checkpoint_skips_only_its_agent(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: one checkpoint file with non-ASCII in its base64 raised a bare
    ValueError from the note parser, which stopped the whole runtime at start-up.
    It is a corrupt log now, and only its agent is skipped, with the reason."""
    manager = await host.open()
    await manager.create(ada_document(), agent_id="good-one")
    await manager.create(ada_document(), agent_id="bad-checkpoint")
    await host.close(manager)
    checkpoint = host.config.log.root / "bad-checkpoint" / "tiles" / "checkpoint"
    text = checkpoint.read_text()
    at = text.rindex(" ") + 1  # the signature's base64
    checkpoint.write_text(text[:at] + "\u00e9" + text[at + 1 :])

    with caplog.at_level(logging.WARNING, logger="anima_runtime.manager"):
        reopened = await host.open()

    assert [(v.agent_id, v.running) for v in reopened.list()] == [("good-one", True)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("bad-checkpoint" in w and "not valid base64" in w for w in warnings), warnings
    assert "\u00e9" in checkpoint.read_text()  # left for the operator


async def test_a_persisted_character_whose_model_no_longer_builds_stays_listed_stopped(
    host: Host,
) -> None:
    """Same bug, one step later: the character loads but its model settings no longer
    build (edited on disk, or refused by a newer runtime). The agent is listed, not
    running, with the reason; the others come up."""
    manager = await host.open()
    await manager.create(ada_document(), agent_id="good-one")
    await manager.create(ada_document(), agent_id="ada-ftp")
    await host.close(manager)
    character = host.config.data_dir / "agents" / "ada-ftp" / "character.json"
    document = json.loads(character.read_text())
    document["modelProvider"] = "openai"
    document["settings"]["modelEndpointOverride"] = "ftp://models.example"
    character.write_text(json.dumps(document))

    reopened = await host.open()

    views = {v.agent_id: v for v in reopened.list()}
    assert views["good-one"].running and views["good-one"].problem is None
    broken = views["ada-ftp"]
    assert not broken.running
    assert broken.problem is not None and "modelEndpointOverride" in broken.problem
    assert_no_secret(broken)
    record = json.loads(character.with_name("agent.json").read_text())
    assert record["running"] is True  # the next restart tries again


async def test_a_create_that_fails_to_start_loses_the_agent_id(
    host: Host, memory: MemoryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug: create(start=True) raised the start error after the keys and the agent
    existed under a random id the caller never saw, so a retry made another agent.
    The view comes back, not running, with the id and the problem."""
    manager = await host.open()
    create = memory.create

    async def failing_create(drafts: Sequence[MemoryDraft]) -> list[CreateResult]:
        raise StoreUnavailable("the memory store is down")

    monkeypatch.setattr(memory, "create", failing_create)  # knowledge ingest, at start
    document = ada_document(knowledge=["Anima keeps agents honest with a signed log."])

    view = await manager.create(document)

    assert not view.running
    assert view.problem == "the memory store is down"
    assert manager.list() == [view]
    assert host.signer.get_agent(view.agent_id).log_verifier_key == view.log_verifier_key
    out = AgentOut.of(view)  # what the API answers (201)
    assert (out.agent_id, out.running, out.problem) == (view.agent_id, False, view.problem)
    record = host.config.data_dir / "agents" / view.agent_id / "agent.json"
    assert json.loads(record.read_text())["running"] is False
    with pytest.raises(StoreUnavailable):
        await manager.start(view.agent_id)  # start itself still says why

    monkeypatch.setattr(memory, "create", create)
    started = await manager.start(view.agent_id)
    assert started.running and started.problem is None
    assert [v.agent_id for v in manager.list()] == [view.agent_id]


async def test_a_stopped_agent_has_no_problem(
    host: Host, memory: MemoryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = await host.open()

    async def failing_create(drafts: Sequence[MemoryDraft]) -> list[CreateResult]:
        raise StoreUnavailable("the memory store is down")

    monkeypatch.setattr(memory, "create", failing_create)
    view = await manager.create(ada_document(knowledge=["Anima keeps a signed log."]))
    assert view.problem is not None
    assert (await manager.stop(view.agent_id)).problem is None


def record_document(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "version": 1,
        "agent_id": "ada-one",
        "name": "Ada",
        "running": False,
        "created_at": "2025-01-01T00:00:00+00:00",
        "wallets": ["0x" + "11" * 20],
        "log_verifier_key": "anima+abc",
        "model": "",
        "knowledge_dir": None,
    }
    return json.dumps(document | changes).encode()


def test_agent_record_from_json_type_checks_knowledge_dir_and_wallet_items(
    tmp_path: Path,
) -> None:
    source = tmp_path / "ada-one" / "agent.json"
    assert AgentRecord.from_json(record_document(), source).knowledge_dir is None
    fine = AgentRecord.from_json(record_document(knowledge_dir="/srv/knowledge"), source)
    assert fine.knowledge_dir == "/srv/knowledge"
    for changes, field_name in [
        ({"knowledge_dir": 5}, "knowledge_dir"),
        ({"knowledge_dir": ["/srv"]}, "knowledge_dir"),
        ({"knowledge_dir": "relative/dir"}, "knowledge_dir"),
        ({"wallets": [5]}, "wallets"),
        ({"wallets": ["0xabc", None]}, "wallets"),
        ({"wallets": "0xabc"}, "wallets"),
    ]:
        with pytest.raises(ConfigError, match=field_name):
            AgentRecord.from_json(record_document(**changes), source)


async def test_agent_files_fsync_their_directory_after_the_rename(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug: the record was fsynced and renamed into place, but the directory was
    not fsynced, so a power cut could lose the rename (a start or stop forgotten)."""
    manager = await host.open()
    view = await manager.create(ada_document(), agent_id="ada-sync", start=False)
    record = host.config.data_dir / "agents" / view.agent_id / "agent.json"
    synced: list[tuple[Path, bool]] = []

    def fsync_dir(path: Path) -> None:
        synced.append((path, json.loads(record.read_text())["running"]))

    monkeypatch.setattr("anima_runtime.manager.records.fsync_dir", fsync_dir)
    await manager.start(view.agent_id)
    assert synced == [(record.parent, True)]  # after the new record is in place


async def test_the_runtime_creates_its_data_and_log_directories_owner_only(
    tmp_path: Path, signer: Signer, memory: MemoryService
) -> None:
    """Private log payloads were world-readable on disk: the logs root and each log
    directory were 0755 (and the payload index 0644) while agents/ was 0700."""
    old_umask = os.umask(0o022)
    try:
        async with hosting(tmp_path / "deep" / "er", signer, memory) as opened:
            manager = await opened.open()
            view = await manager.create(ada_document())
            await manager.send_message(view.agent_id, room_id="r1", text="My secret is tea.")
            data_dir = opened.config.data_dir
            logs = opened.config.log.root
            for directory in (data_dir.parent, data_dir, data_dir / "agents", logs):
                assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
            for path in logs.rglob("*"):
                mode = stat.S_IMODE(path.stat().st_mode)
                assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    finally:
        os.umask(old_umask)


def test_views_carry_no_character_fields() -> None:
    assert set(AgentView.__dataclass_fields__) == {
        "agent_id",
        "name",
        "running",
        "created_at",
        "wallets",
        "log_verifier_key",
        "plugins",
        "unknown_plugins",
        "model",
        "problem",
    }
