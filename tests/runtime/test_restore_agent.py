"""The runtime's admin RPCs ExportAgent and RestoreAgent over gRPC (TLS, loopback): node
A's runtime exports an agent's record, a runtime over another data directory (node B,
its signer holding the agent as a restore leaves it) hosts it from that record and the
agent chats there, its log synced from the signer. Refused, with nothing written: an
API token or an unknown one, a record naming another agent, an agent already hosted,
an agent the signer lacks, malformed or altered records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from anima_core.auth import token_digest
from anima_core.config import ConfigError
from anima_memory.service import MemoryService
from anima_runtime.grpc_serve import RuntimeGrpc, start_grpc
from anima_runtime.handler import RuntimeHandler
from anima_runtime.manager import AgentManager
from anima_runtime_api.client import RuntimeClient
from anima_runtime_api.errors import AgentAlreadyExists, InvalidAgentRecord, RuntimeRpcError
from anima_signer.core import Signer
from tests.runtime.test_grpc_api import refused
from tests.runtime.test_manager import API_TOKEN, SECRET, Host, ada_document, runtime_config

ADMIN_TOKEN = "test-runtime-admin-token"


@dataclass
class Node:
    host: Host
    grpc: RuntimeGrpc
    manager: AgentManager

    def client(self, token: str | None = ADMIN_TOKEN) -> RuntimeClient:
        return RuntimeClient.connect(
            f"127.0.0.1:{self.grpc.port}", token, certificate_pem=self.grpc.certificate_pem
        )

    @property
    def agents_dir(self) -> Path:
        return self.host.config.data_dir / "agents"


async def _node(data: Path, signer: Signer, memory: MemoryService) -> tuple[Host, RuntimeGrpc]:
    config = runtime_config(data, admin_token_sha256s=[token_digest(ADMIN_TOKEN)])
    host = Host(config, memory, signer)
    return host, await start_grpc(config, address="127.0.0.1:0")


@pytest.fixture
async def nodes(
    tmp_path: Path, signer: Signer, memory: MemoryService
) -> AsyncIterator[tuple[Node, Node]]:
    """Two runtimes over one signer and memory service: a restored signer and memory
    look to node B's runtime exactly like these (the recovery tests restore them)."""
    opened = []
    try:
        for name in ("a", "b"):
            host, api = await _node(tmp_path / name, signer, memory)
            opened.append((host, api))
            manager = await host.open()
            await api.attach(RuntimeHandler.of(manager, host.config))
        yield tuple(Node(h, g, h._open[0][0]) for h, g in opened)  # type: ignore[misc]
    finally:
        for host, api in opened:
            await api.stop(0)
            await host.close_all()


async def _agent_on_a(a: Node) -> tuple[str, bytes]:
    view = await a.manager.create(ada_document())
    await a.manager.send_message(view.agent_id, room_id="r1", text="I live in Lisbon.")
    async with a.client() as admin:
        return view.agent_id, await admin.export_agent(view.agent_id)


def _log_of(node: Node, agent_id: str) -> tuple[list[bytes], bytes]:
    """The agent's stored log and checkpoint, as a signer's restore hands them over."""
    log = node.manager.logs.get(agent_id)
    assert log.published is not None
    return log.store.read_entries(0, log.size), log.published.note


async def test_node_b_hosts_the_exported_agent_and_it_chats(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    agent_id, record = await _agent_on_a(a)
    assert SECRET in record.decode()  # the character's secrets travel (sealed by the enclave)
    await a.manager.stop(agent_id)
    entries, checkpoint = _log_of(a, agent_id)
    size_on_a = len(entries)
    async with b.client() as admin:
        view = await admin.restore_agent(
            agent_id, record, log_entries=entries, checkpoint=checkpoint
        )
    before = a.manager.get(agent_id)
    assert (view.wallets, view.log_verifier_key) == (before.wallets, before.log_verifier_key)
    assert view.running and SECRET not in repr(view)
    log_on_b = b.manager.logs.get(agent_id)
    assert log_on_b.store.read_entries(0, size_on_a) == entries
    assert SECRET in (b.agents_dir / agent_id / "character.json").read_text()
    async with b.client(API_TOKEN) as api:
        turn = await api.send_message(agent_id, room_id="r1", text="Where do I live?")
    assert turn.responses and "Lisbon" in turn.responses[0].text
    assert turn.message_log_index >= size_on_a  # node B's log extends node A's


async def test_only_an_admin_token_exports_or_restores(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    agent_id, record = await _agent_on_a(a)
    for token, status in (
        (API_TOKEN, grpc.StatusCode.PERMISSION_DENIED),
        ("not-a-token", grpc.StatusCode.UNAUTHENTICATED),
        (None, grpc.StatusCode.UNAUTHENTICATED),
    ):
        async with a.client(token) as client:
            await refused(client.export_agent(agent_id), status)
        async with b.client(token) as client:
            await refused(client.restore_agent(agent_id, record), status)
    assert not (b.agents_dir / agent_id).exists()


def test_an_api_token_cannot_be_an_admin_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin token"):
        runtime_config(tmp_path, admin_token_sha256s=[token_digest(API_TOKEN)]).check_startable()


async def test_records_refused_and_nothing_written(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    agent_id, record = await _agent_on_a(a)
    doc = json.loads(record)
    bad = {
        "not JSON": b"{not json",
        "not an object": b"[]",
        "a field missing": json.dumps({k: v for k, v in doc.items() if k != "wallets"}).encode(),
        "another version": json.dumps({**doc, "version": 2}).encode(),
        "wallets altered": json.dumps(
            {**doc, "wallets": ["0x000000000000000000000000000000000000dEaD"]}
        ).encode(),
        "log key altered": json.dumps({**doc, "log_verifier_key": "x+1+AAAA"}).encode(),
        "character broken": json.dumps({**doc, "character": '{"name": 1}'}).encode(),
        "another agent": json.dumps({**doc, "agent_id": "someone-else"}).encode(),
    }
    async with b.client() as admin:
        for what, data in bad.items():
            message = await refused(
                admin.restore_agent(agent_id, data),
                grpc.StatusCode.INVALID_ARGUMENT,
                InvalidAgentRecord,
            )
            assert "agent record" in message, what
        # Another agent's record under this id, and this record under another id.
        message = await refused(
            admin.restore_agent("someone-else", record),
            grpc.StatusCode.INVALID_ARGUMENT,
            InvalidAgentRecord,
        )
        assert agent_id in message
        assert list(b.agents_dir.iterdir()) == [b.agents_dir / ".lock"]
        # The agent is hosted on node A already.
    async with a.client() as admin:
        await refused(
            admin.restore_agent(agent_id, record),
            grpc.StatusCode.ALREADY_EXISTS,
            AgentAlreadyExists,
        )


async def test_an_agent_the_signer_lacks_is_refused(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    _, record = await _agent_on_a(a)
    doc = json.loads(record)
    unknown = json.dumps({**doc, "agent_id": "never-restored"}).encode()
    async with b.client() as admin:
        message = await refused(
            admin.restore_agent("never-restored", unknown),
            grpc.StatusCode.FAILED_PRECONDITION,
            RuntimeRpcError,
        )
    assert "restore it into the signer first" in message
    assert not (b.agents_dir / "never-restored").exists()


async def test_a_restored_log_that_does_not_verify_is_refused(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    agent_id, record = await _agent_on_a(a)
    await a.manager.stop(agent_id)
    entries, checkpoint = _log_of(a, agent_id)
    altered = bytearray(entries[1])
    altered[-1] ^= 1
    bad_logs = {
        "an entry altered": ([entries[0], bytes(altered), *entries[2:]], checkpoint),
        "the last entry missing": (entries[:-1], checkpoint),
        "another agent's entries": (entries[::-1], checkpoint),
        "no checkpoint": (entries, b""),
    }
    async with b.client() as admin:
        for what, (log, note) in bad_logs.items():
            # CHECKPOINT_REJECTED: the client maps a log reason by its status code.
            message = await refused(
                admin.restore_agent(agent_id, record, log_entries=log, checkpoint=note),
                grpc.StatusCode.FAILED_PRECONDITION,
                RuntimeRpcError,
            )
            assert "entry" in message or "checkpoint" in message, what
            assert list(b.agents_dir.iterdir()) == [b.agents_dir / ".lock"], what
        # Nothing was published by the refused attempts: the true log still seeds.
        view = await admin.restore_agent(
            agent_id, record, log_entries=entries, checkpoint=checkpoint
        )
    assert view.running
    assert b.manager.logs.get(agent_id).store.read_entries(0, len(entries)) == entries


async def test_without_admin_tokens_nobody_exports(
    tmp_path: Path, signer: Signer, memory: MemoryService
) -> None:
    host = Host(runtime_config(tmp_path / "plain"), memory, signer)
    api = await start_grpc(host.config, address="127.0.0.1:0")
    try:
        manager = await host.open()
        await api.attach(RuntimeHandler.of(manager, host.config))
        view = await manager.create(ada_document())
        node = Node(host, api, manager)
        async with node.client(API_TOKEN) as client:
            await refused(client.export_agent(view.agent_id), grpc.StatusCode.PERMISSION_DENIED)
    finally:
        await api.stop(0)
        await host.close_all()
