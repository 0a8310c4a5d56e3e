"""Fixtures for the runtime: real parts in process. The memory service core over an
embedded Qdrant Edge store with the real MiniLM model, and the agent's verifiable log
sequenced by a real signer core on the INSECURE simulated TEE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from anima_dev.inprocess_log import InProcessSequencer
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory.service import MemoryService
from anima_memory.store.edge import EdgeStore
from anima_runtime.log.service import AgentLog
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.types import SigningPolicy
from tests.vectors import require_vectors, vectors_dir

AGENT = "ada-agent"
#: The real ElizaOS characters among the shared test vectors ($ANIMA_VECTORS_DIR).
CHARACTERS = vectors_dir("characters")


def real_character(name: str) -> Path:
    """The path of the real character `name`, or skip the test saying it is missing."""
    return require_vectors("characters", f"{name}.character.json") / f"{name}.character.json"


@pytest.fixture(scope="session")
def minilm() -> Iterator[MiniLmOnnxEmbedder]:
    """One loaded model for the whole run (loading takes about a second)."""
    yield MiniLmOnnxEmbedder.load(threads=2)


@pytest.fixture
async def memory(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[MemoryService]:
    """A fresh memory service core (satisfies anima_runtime.agent.memory.MemoryPort)."""
    store = EdgeStore.open(tmp_path / "memory")
    yield MemoryService(store, minilm)
    store.close()


@pytest.fixture
async def signer(tmp_path: Path) -> AsyncIterator[Signer]:
    state_dir = tmp_path / "signer"
    state_dir.mkdir()
    s = await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state_dir),
        state_dir=state_dir,
        log_origin_prefix="test.anima/agents",
    )
    s.create_agent(
        agent_id=AGENT, wallet_count=1, policy=SigningPolicy(allow_personal_messages=True)
    )
    yield s
    s.close()


@pytest.fixture
async def agent_log(tmp_path: Path, signer: Signer) -> AsyncIterator[AgentLog]:
    """The agent's log, appended through the in-process signer core (no background sync)."""
    log = await AgentLog.open(
        agent_id=AGENT,
        directory=tmp_path / "log",
        sequencer=InProcessSequencer(signer),
        sync_interval_s=None,
    )
    yield log
    await log.close()
