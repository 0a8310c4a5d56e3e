"""Fixtures: the real memory service (embedded Qdrant Edge store, MiniLM on ONNX
Runtime) behind its real gRPC server, with TLS and tokens as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anima_core.auth import token_digest
from anima_memory.app import RunningMemory, start_memory
from anima_memory.config import MemoryConfig
from anima_memory.embeddings.base import Embedder
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import MemoryDraft

TOKENS = {
    "runtime": "runtime-token-for-memory-tests",
    "dasync": "dasync-token-for-memory-tests",
    "admin": "admin-token-for-memory-tests",
}
AGENT = "eliza"
OTHER_AGENT = "trump"


@pytest.fixture(scope="session")
def minilm() -> Iterator[MiniLmOnnxEmbedder]:
    """One loaded model for the whole run (loading takes about a second)."""
    yield MiniLmOnnxEmbedder.load(threads=2)


def memory_config(data_dir: Path, **overrides: object) -> MemoryConfig:
    return MemoryConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "data_dir": data_dir,
            "callers": {name: token_digest(t) for name, t in TOKENS.items()},
            "embedded": {"index_after_points": 100_000},
            **overrides,
        }
    )


@dataclass
class Served:
    running: RunningMemory
    config: MemoryConfig

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def client(self, role: str = "runtime") -> MemoryClient:
        return MemoryClient.connect(
            self.address, TOKENS[role], certificate_pem=self.running.certificate_pem
        )


async def serve(config: MemoryConfig, embedder: MiniLmOnnxEmbedder) -> Served:
    return Served(running=await start_memory(config, embedder=lend(embedder)), config=config)


def lend(embedder: MiniLmOnnxEmbedder) -> Embedder:
    """The session's model for one server, which closes it when it stops (a no-op here)."""
    return _Shared(embedder)


class _Shared:
    """The session's model, lent to one server: stopping the server must not close it."""

    def __init__(self, embedder: MiniLmOnnxEmbedder) -> None:
        self._embedder = embedder
        self.dimension = embedder.dimension
        self.model_name = embedder.model_name
        self.embed = embedder.embed

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def served(tmp_path: Path, minilm: MiniLmOnnxEmbedder) -> AsyncIterator[Served]:
    s = await serve(memory_config(tmp_path), minilm)
    yield s
    await s.running.stop(grace=0.2)


@pytest.fixture
async def client(served: Served) -> AsyncIterator[MemoryClient]:
    async with served.client() as c:
        yield c


def draft(text: str = "", **fields: object) -> MemoryDraft:
    values: dict[str, object] = {
        "agent_id": AGENT,
        "entity_id": "user-1",
        "room_id": "room-1",
        "table": "messages",
        "text": text,
    }
    values.update(fields)
    return MemoryDraft(**values)  # type: ignore[arg-type]
