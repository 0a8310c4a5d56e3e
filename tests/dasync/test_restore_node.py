"""Node B takes the agent over, and a recovery that fails halfway finishes on a rerun.

Real processes throughout (signers, guardians, memory services, runtimes, anvil): node
A's agent learns a fact in chat; its life data (the memory service's export, the
runtime's record, the log) is sealed, published and anchored; node A is killed. Node
B's memory service first refuses a memory halfway through the import (a text over its
configured limit: the memories before it were written, then all removed again), so
`anima agent recover` fails after the signer restore, saying so. With the memory
service fixed, the same command finishes (the signer restore is not redone), and a
third run changes nothing. The agent then answers on node B from its memories."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from anima_dev import demo_recovery
from anima_dev.demo_recovery import NodeB, Synced
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.local_memory import LocalMemory, local_memory
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import LocalSigner, local_signer
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import MemoryDraft, MemoryFilter
from anima_runtime_api.errors import AgentNotFound

pytestmark = pytest.mark.slow
ADA = Path(__file__).resolve().parents[2] / "examples" / "characters" / "ada.character.json"
ROOM, USER = "home", "sam"
# First and last in id order (exports go in id order): a short memory and a long one.
FIRST_ID, LAST_ID = "00000000-0000-4000-8000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff"
SHORT_LIMIT = {"ANIMA_MEMORY_MAX_TEXT_BYTES": "30"}


@dataclass
class Recovering:
    agent: dict[str, Any]
    synced: Synced
    guardians: list[LocalSigner]
    shares: list[Path]
    chain: LocalChain
    memories: int  # in node A's export


def _memory_client(memory: LocalMemory, token: str) -> MemoryClient:
    return MemoryClient.connect(memory.address, token, certificate_pem=memory.certificate_pem)


async def _node_a(stack: contextlib.ExitStack, tmp: Path) -> Recovering:
    chain = stack.enter_context(local_chain(tmp / "anvil"))
    guardians = demo_recovery.start_guardians(stack, tmp)
    with contextlib.ExitStack() as node:
        # Escrow happens at creation: node A's signer must name the guardians.
        escrow = await demo_recovery.escrow_env(guardians)
        signer = node.enter_context(local_signer(tmp / "a", env=escrow))
        memory = node.enter_context(local_memory(tmp / "a", admin_token="a-memory-admin"))
        runtime = node.enter_context(
            local_runtime(tmp / "a", signer=signer, memory=memory, admin=True)
        )
        async with runtime.grpc_client() as api:
            view = await api.create_agent(json.loads(ADA.read_text()))
            shares = await demo_recovery.escrow(signer, view.agent_id, guardians, tmp / "escrow")
            for text in ("Hi! My name is Sam and I live in Lisbon.", "What is Anima?"):
                await api.send_message(
                    view.agent_id, room_id=ROOM, text=text, entity_id=USER, user_name="Sam"
                )
        async with _memory_client(memory, memory.token) as client:
            await client.create(
                [
                    MemoryDraft(view.agent_id, USER, ROOM, "messages", "short", id=FIRST_ID),
                    MemoryDraft(view.agent_id, USER, ROOM, "messages", "x" * 200, id=LAST_ID),
                ]
            )
        async with httpx.AsyncClient(base_url=runtime.url) as http:
            note = (await http.get(f"/v1/logs/{view.agent_id}/checkpoint")).content
            size = int(note.split(b"\n")[1])
            page = await http.get(f"/v1/logs/{view.agent_id}/entries", params={"end": size})
        parts = await demo_recovery.life_parts(memory, runtime, view.agent_id, batch_size=1)
        synced = await demo_recovery.sync_and_anchor(
            signer,
            view.agent_id,
            entries=demo_recovery.entries_from(page.json()),
            checkpoint=note,
            parts=parts,
            chain=chain,
            state_dir=tmp,
        )
        demo_recovery.kill_node(signer.process, memory.process, runtime.process)
    agent = {
        "agent_id": view.agent_id,
        "log_verifier_key": view.log_verifier_key,
        "wallets": list(view.wallets),
    }
    return Recovering(agent, synced, guardians, shares, chain, parts[0][2])


@contextlib.contextmanager
def _host_b(tmp: Path, signer: LocalSigner, memory_env: dict[str, str]) -> Iterator[NodeB]:
    with contextlib.ExitStack() as stack:
        memory, runtime = demo_recovery.start_node_b_host(stack, tmp, signer, memory_env)
        yield NodeB(signer, memory, runtime)


def _recover(node_b: NodeB, r: Recovering, tmp: Path) -> subprocess.CompletedProcess[str]:
    command, env = demo_recovery.recover_command(
        node_b, r.guardians, r.shares, r.agent, r.synced, r.chain, tmp
    )
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


async def _state_of_b(node_b: NodeB, agent_id: str) -> tuple[int, bool]:
    """Node B's memories of the agent, and whether its runtime hosts it."""
    assert node_b.memory.admin_token is not None and node_b.runtime.admin_token is not None
    async with _memory_client(node_b.memory, node_b.memory.admin_token) as memory:
        count = await memory.count(MemoryFilter(agent_id=agent_id))
    async with node_b.runtime.grpc_client_as(node_b.runtime.admin_token) as runtime:
        try:
            await runtime.export_agent(agent_id)
        except AgentNotFound:
            return count, False
    return count, True


async def test_a_recovery_that_fails_halfway_finishes_on_a_rerun(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        r = await _node_a(stack, tmp_path)
        agent_id = r.agent["agent_id"]
        signer_b = stack.enter_context(demo_recovery.node_b_signer(tmp_path, r.synced, r.chain))
        with _host_b(tmp_path, signer_b, SHORT_LIMIT) as node_b:
            failed = _recover(node_b, r, tmp_path)
            assert failed.returncode == 1, failed.stdout
            assert "importing the memories into node B's memory service failed" in failed.stderr
            assert "at most 30" in failed.stderr and "Rerun this command" in failed.stderr
            assert await _state_of_b(node_b, agent_id) == (0, False)  # all or nothing
        assert (tmp_path / "restored" / "restored.json").exists()
        with _host_b(tmp_path, signer_b, {}) as node_b:  # the memory limit fixed
            done = _recover(node_b, r, tmp_path)
            assert done.returncode == 0, done.stderr
            summary = json.loads(done.stdout)
            assert "restored by an earlier run" in summary["signer"]
            assert summary["node"]["memories"]["imported"] == r.memories
            assert summary["node"]["runtime"]["agent"] == "restored"
            assert summary["node"]["runtime"]["running"] is True
            assert await _state_of_b(node_b, agent_id) == (r.memories, True)
            again = _recover(node_b, r, tmp_path)
            assert again.returncode == 0, again.stderr
            node = json.loads(again.stdout)["node"]
            assert "already" in node["memories"] and node["runtime"]["agent"].startswith("already")
            assert await _state_of_b(node_b, agent_id) == (r.memories, True)  # no duplicates
            answer = await demo_recovery.ask_node_b(
                node_b, agent_id, room=ROOM, user=USER, text="Where do I live?"
            )
            assert "Lisbon" in answer
