"""Peer migration moves the whole agent, with real processes: two signers (the
INSECURE simulated TEE, admitted because the agent's measurement policy allows it),
two memory services, two runtimes and `anima agent migrate` in its own process.
Node A's agent learns a fact in chat; the migration stops it on A, moves its
memories, record and log with its signer state, and node B's runtime hosts it: it
answers there from the memory written on A. Node B's memory service refuses the
first try halfway (a text over its limit: all or nothing); the rerun finishes from
the staging without moving the signer side again, and a third run changes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from anima_dev.demo_recovery import NodeB, ask_node_b, start_node_b_host
from anima_dev.local_memory import LocalMemory, local_memory
from anima_dev.local_runtime import LocalRuntime, local_runtime
from anima_dev.local_signer import LocalSigner, local_signer
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import MemoryFilter
from anima_runtime_api.errors import AgentNotFound
from anima_signer_api.errors import AgentMigrated
from anima_verify.escrow.share import public_bytes
from tests.dasync.test_fencing_processes import GUARDIAN_TERMS, _client

pytestmark = pytest.mark.slow
ADA = Path(__file__).resolve().parents[2] / "examples" / "characters" / "ada.character.json"
ROOM, USER = "home", "sam"
SHORT_LIMIT = {"ANIMA_MEMORY_MAX_TEXT_BYTES": "30"}


def _migrate(
    agent_id: str,
    a: tuple[LocalSigner, LocalMemory, LocalRuntime],
    b: NodeB,
    tmp: Path,
    **env_overrides: str,
) -> subprocess.CompletedProcess[str]:
    signer_a, memory_a, runtime_a = a
    certs = {}
    for name, pem in (
        ("a-memory", memory_a.certificate_pem),
        ("a-runtime", runtime_a.grpc_certificate_pem),
        ("b-memory", b.memory.certificate_pem),
        ("b-runtime", b.runtime.grpc_certificate_pem),
    ):
        certs[name] = tmp / f"{name}.pem"
        certs[name].write_bytes(pem)
    command = [
        *(sys.executable, "-m", "anima_dev.cli", "agent", "migrate", agent_id),
        *("--from", signer_a.address, "--to", b.signer.address, "--insecure-allow-simulated"),
        *("--from-memory", memory_a.address, "--from-memory-cert", str(certs["a-memory"])),
        *("--from-runtime", runtime_a.grpc_address),
        *("--from-runtime-cert", str(certs["a-runtime"])),
        *("--to-memory", b.memory.address, "--to-memory-cert", str(certs["b-memory"])),
        *("--to-runtime", b.runtime.grpc_address, "--to-runtime-cert", str(certs["b-runtime"])),
        *("--out", str(tmp / "moved"), "--json"),
    ]
    assert memory_a.admin_token and runtime_a.admin_token
    assert b.memory.admin_token and b.runtime.admin_token
    env = {
        **os.environ,
        "ANIMA_SIGNER_TOKEN": signer_a.tokens["admin"],
        "ANIMA_DESTINATION_TOKEN": b.signer.tokens["admin"],
        "ANIMA_SOURCE_MEMORY_TOKEN": memory_a.admin_token,
        "ANIMA_SOURCE_RUNTIME_ADMIN_TOKEN": runtime_a.admin_token,
        "ANIMA_SOURCE_RUNTIME_TOKEN": runtime_a.api_token,
        "ANIMA_MEMORY_TOKEN": b.memory.admin_token,
        "ANIMA_RUNTIME_ADMIN_TOKEN": b.runtime.admin_token,
        **env_overrides,
    }
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=300
    )


async def _state_of_b(b: NodeB, agent_id: str) -> tuple[int, bool]:
    """Node B's memories of the agent, and whether its runtime hosts it."""
    assert b.memory.admin_token is not None and b.runtime.admin_token is not None
    client = MemoryClient.connect(
        b.memory.address, b.memory.admin_token, certificate_pem=b.memory.certificate_pem
    )
    async with client:
        count = await client.count(MemoryFilter(agent_id=agent_id))
    async with b.runtime.grpc_client_as(b.runtime.admin_token) as runtime:
        try:
            await runtime.export_agent(agent_id)
        except AgentNotFound:
            return count, False
    return count, True


async def test_the_agent_answers_on_b_from_memories_written_on_a(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        signer_a = stack.enter_context(local_signer(tmp_path / "a"))
        memory_a = stack.enter_context(local_memory(tmp_path / "a", admin_token="a-memory-admin"))
        runtime_a = stack.enter_context(
            local_runtime(tmp_path / "a", signer=signer_a, memory=memory_a, admin=True)
        )
        async with runtime_a.grpc_client() as api:
            view = await api.create_agent(json.loads(ADA.read_text()))
            agent_id = view.agent_id
            async with await _client(signer_a, "admin") as admin:
                guardian = public_bytes(X25519PrivateKey.generate().public_key())
                await admin.escrow_agent_root(
                    agent_id, guardian_keys=[guardian], threshold=1, policy_json=GUARDIAN_TERMS
                )
            await api.send_message(
                agent_id,
                room_id=ROOM,
                text="Hi! My name is Sam and I live in Lisbon.",
                entity_id=USER,
                user_name="Sam",
            )
        signer_b = stack.enter_context(local_signer(tmp_path / "b"))
        node_a = (signer_a, memory_a, runtime_a)
        # Node B's memory service refuses A's longer memories: the import fails whole.
        with contextlib.ExitStack() as short:
            memory_b, runtime_b = start_node_b_host(short, tmp_path, signer_b, SHORT_LIMIT)
            b = NodeB(signer_b, memory_b, runtime_b)
            # Node B's signer refuses its runtime caller the migration RPCs: nothing
            # moves, and A's runtime runs the agent again.
            refused = _migrate(
                agent_id, node_a, b, tmp_path, ANIMA_DESTINATION_TOKEN=signer_b.tokens["runtime"]
            )
            assert refused.returncode == 1 and "PERMISSION_DENIED" in refused.stderr
            assert not (tmp_path / "moved").exists()
            async with runtime_a.grpc_client() as runtime:
                assert (await runtime.get_agent(agent_id)).running is True
            failed = _migrate(agent_id, node_a, b, tmp_path)
            assert failed.returncode == 1, failed.stdout
            assert "importing the memories into node B's memory service failed" in failed.stderr
            assert await _state_of_b(b, agent_id) == (0, False)
        # The signer side moved: A refuses the agent, its runtime stopped it.
        async with await _client(signer_a, "admin") as admin:
            with pytest.raises(AgentMigrated):
                await admin.get_agent(agent_id)
        async with runtime_a.grpc_client() as runtime:
            assert (await runtime.get_agent(agent_id)).running is False
        with contextlib.ExitStack() as fixed:
            memory_b, runtime_b = start_node_b_host(fixed, tmp_path, signer_b)
            b = NodeB(signer_b, memory_b, runtime_b)
            done = _migrate(agent_id, node_a, b, tmp_path)
            assert done.returncode == 0, done.stderr
            summary = json.loads(done.stdout)
            assert "moved by an earlier run" in summary["signer"]
            imported = summary["node"]["memories"]["imported"]
            assert imported >= 1
            assert summary["node"]["runtime"]["agent"] == "restored"
            assert await _state_of_b(b, agent_id) == (imported, True)
            again = _migrate(agent_id, node_a, b, tmp_path)
            assert again.returncode == 0, again.stderr
            node = json.loads(again.stdout)["node"]
            assert "already" in node["memories"] and node["runtime"]["agent"].startswith("already")
            assert await _state_of_b(b, agent_id) == (imported, True)
            answer = await ask_node_b(b, agent_id, room=ROOM, user=USER, text="Where do I live?")
            assert "Lisbon" in answer
