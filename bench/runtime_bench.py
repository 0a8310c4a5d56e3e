"""The agent runtime's overhead per message, in the deployed shape.

The signer runs in its own process (INSECURE simulated TEE) and sequences the
agent's log over attested gRPC; the memory service runs in its own process
(TLS, token, embedded store, MiniLM). The bench process holds the AgentLog and
an AgentRuntime with the bootstrap plugin. The room is preloaded with 10,000
memories (chat sentences from bench/corpus.py with their real MiniLM vectors,
a twentieth of them facts), then messages are sent one at a time: corpus
sentences, with a fact statement or a question every few messages.

Overhead is what the issue bounds: total time of a turn minus the time a model
or embedding call was in flight (composing the state, memory calls, log
appends, actions, evaluators). Two runs: the offline model (the default
without an LLM, which embeds as it thinks) and an instant scripted model
(answers `ok` / NONE, and no facts), which shows the overhead alone. The split
comes from the runtime's own DEBUG record of each turn's phases.

Embeddings of the corpus are cached in bench/.cache (the model is deterministic).
Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/runtime_bench.py [--memories 10000] [--messages 300] [--warmup 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from corpus import NAMES, PLACES, sentences  # bench/corpus.py, beside this script
from machine import machine
from memory_bench import CACHE, corpus_vectors

from anima_dev.local_memory import local_memory
from anima_dev.local_signer import local_signer
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import (
    CreateResult,
    Matrix,
    Memory,
    MemoryDraft,
    MemoryFilter,
    ScoredMemory,
    SearchQuery,
)
from anima_runtime.agent.runtime import AgentRuntime
from anima_runtime.character.model import Character
from anima_runtime.llm.base import ChatModel, ModelRequest, Purpose
from anima_runtime.llm.offline import OfflineModel
from anima_runtime.log.items import LogItem
from anima_runtime.log.service import AgentLog
from anima_runtime.plugins.registry import resolve_plugins
from anima_signer_api.client import SignerClient
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy

AGENT = "bench-agent"
ROOM = "bench-room"
USERS = ("alice", "bob", "carol", "dave", "erin")
CHARACTER = Character(
    name="Ada",
    bio=("Ada is a careful assistant who remembers what people tell her.",),
    adjectives=("patient", "precise"),
    topics=("wallets", "travel", "food"),
)
PHASES_LOGGER = "anima_runtime.agent"


class TimedLog(AgentLog):
    """The agent's log, timing each append (the bench sends one message at a time)."""

    def __init__(self, **parts: Any) -> None:
        super().__init__(**parts)
        self.appends: list[tuple[int, float]] = []  # (entries, seconds) per append call

    async def append(self, items: Sequence[LogItem]) -> list[int]:
        started = time.perf_counter()
        try:
            return await super().append(items)
        finally:
            self.appends.append((len(items), time.perf_counter() - started))


class TimedMemory:
    """The memory client, counting the runtime's (and plugins') calls and their time."""

    def __init__(self, client: MemoryClient) -> None:
        self._client = client
        self.calls: list[float] = []

    async def _timed(self, call: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call
        finally:
            self.calls.append(time.perf_counter() - started)

    async def create(self, drafts: Sequence[MemoryDraft]) -> list[CreateResult]:
        result: list[CreateResult] = await self._timed(self._client.create(drafts))
        return result

    async def search(
        self,
        where: MemoryFilter,
        query: Sequence[float] | str,
        *,
        limit: int = 0,
        min_score: float | None = None,
        with_vectors: bool = False,
    ) -> list[ScoredMemory]:
        call = self._client.search(
            where, query, limit=limit, min_score=min_score, with_vectors=with_vectors
        )
        result: list[ScoredMemory] = await self._timed(call)
        return result

    async def search_many(self, searches: Sequence[SearchQuery]) -> list[list[ScoredMemory]]:
        result: list[list[ScoredMemory]] = await self._timed(self._client.search_many(searches))
        return result

    async def get(
        self, agent_id: str, ids: Sequence[str], *, with_vectors: bool = False
    ) -> tuple[list[Memory], list[str]]:
        return await self._client.get(agent_id, ids, with_vectors=with_vectors)

    async def recent(self, where: MemoryFilter, limit: int = 0) -> list[Memory]:
        result: list[Memory] = await self._timed(self._client.recent(where, limit))
        return result

    async def count(self, where: MemoryFilter) -> int:
        return await self._client.count(where)

    async def delete(self, agent_id: str, memory_id: str) -> bool:
        result: bool = await self._timed(self._client.delete(agent_id, memory_id))
        return result

    async def embed(self, texts: Sequence[str]) -> Matrix:
        return await self._client.embed(texts)  # model time, not counted here


class InstantModel:
    """Answers at once: `ok` with NONE, and no facts."""

    name = "instant"

    async def complete(self, request: ModelRequest) -> str:
        if request.purpose is Purpose.FACTS:
            return "[]"
        return json.dumps({"text": "ok", "actions": ["NONE"]})

    async def stream(self, request: ModelRequest) -> AsyncIterator[str]:
        yield await self.complete(request)

    async def aclose(self) -> None:
        pass


class PhaseRecords(logging.Handler):
    """Collects the runtime's DEBUG record of each turn's phases (ms by name)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.turns: list[dict[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        phases = getattr(record, "phases_ms", None)
        if isinstance(phases, dict):
            self.turns.append(phases)


def corpus(count: int, embedder: MiniLmOnnxEmbedder) -> tuple[list[str], np.ndarray]:
    """`count` corpus sentences and their vectors; a longer cached run serves its prefix
    (sentences(n) is the first n of one endless stream)."""
    texts = sentences(count)
    for path in sorted(CACHE.glob("minilm-*.npy"), key=lambda p: int(p.stem.split("-")[1])):
        if int(path.stem.split("-")[1]) >= count:
            return texts, np.load(path, mmap_mode="r")[:count].copy()
    return texts, corpus_vectors(texts, embedder)


def messages(texts: list[str]) -> list[tuple[str, str]]:
    """(user, text): corpus sentences, and every fifth a fact statement or a question."""
    out: list[tuple[str, str]] = []
    for i, text in enumerate(texts):
        user = USERS[i % len(USERS)]
        if i % 10 == 4:
            text = f"My name is {NAMES[i % len(NAMES)]} and I live in {PLACES[i % len(PLACES)]}."
        elif i % 10 == 9:
            text = "Where do I live?" if i % 20 == 9 else "What is my name?"
        out.append((user, text))
    return out


async def preload(memory: MemoryClient, texts: list[str], vectors: np.ndarray) -> None:
    started = time.perf_counter()
    start_ms = int(time.time() * 1000) - len(texts) * 1000
    for first in range(0, len(texts), 512):
        drafts = []
        for i in range(first, min(first + 512, len(texts))):
            fact = i % 20 == 0
            speaker = USERS[i % len(USERS)] if fact or i % 2 else AGENT
            drafts.append(
                MemoryDraft(
                    agent_id=AGENT,
                    entity_id=speaker,
                    room_id=ROOM,
                    table="facts" if fact else "messages",
                    text=texts[i],
                    created_at_ms=start_ms + i * 1000,
                    vector=vectors[i],
                )
            )
        await memory.create(drafts)
    took = time.perf_counter() - started
    print(f"preloaded {len(texts):,} memories into the room in {took:.1f} s")


def figures(samples: list[float]) -> str:
    p50, p95, p99 = np.percentile(np.asarray(samples), [50, 95, 99])
    return f"p50 {p50:6.2f}  p95 {p95:6.2f}  p99 {p99:6.2f} ms"


async def run(
    label: str,
    runtime: AgentRuntime,
    log: TimedLog,
    memory: TimedMemory,
    phases: PhaseRecords,
    sends: list[tuple[str, str]],
    warmup: int,
) -> None:
    overhead: list[float] = []
    model: list[float] = []
    appends_per_turn: list[int] = []
    append_ms: list[float] = []
    memory_calls: list[int] = []
    turn_phases: list[dict[str, float]] = []
    for n, (user, text) in enumerate(sends):
        log.appends.clear()
        memory.calls.clear()
        phases.turns.clear()
        result = await runtime.handle_message(
            room_id=ROOM, entity_id=user, text=text, user_name=user.capitalize()
        )
        if n < warmup:
            continue
        overhead.append(result.total_ms - result.model_ms)
        model.append(result.model_ms)
        appends_per_turn.append(len(log.appends))
        append_ms.extend(s * 1000 for _, s in log.appends)
        memory_calls.append(len(memory.calls))
        if phases.turns:
            turn_phases.append(phases.turns[-1])
    print(f"{label}: {len(overhead)} messages (after {warmup} to warm up)")
    print(f"    overhead (total - model)  {figures(overhead)}")
    print(f"    model and embedding time  p50 {np.median(model):6.2f} ms")
    print(
        f"    log appends per turn {np.mean(appends_per_turn):.2f}, each {figures(append_ms)}; "
        f"memory calls per turn {np.mean(memory_calls):.1f}"
    )
    if turn_phases:
        names = list(dict.fromkeys(k for t in turn_phases for k in t))
        print("    phases (p50 / p99 ms):")
        for name in names:
            values = [t.get(name, 0.0) for t in turn_phases]
            p50, p99 = np.percentile(values, [50, 99])
            print(f"      {name:<28} {p50:6.2f} / {p99:6.2f}")


async def main_async(root: Path, args: argparse.Namespace) -> None:
    embedder = MiniLmOnnxEmbedder.load()
    # In a thread: on a cache miss corpus_vectors runs the embedder in its own event loop.
    texts, vectors = await asyncio.to_thread(corpus, args.memories + args.messages, embedder)
    sends = messages(texts[args.memories :])
    trust = MeasurementPolicy.insecure_simulated_for_development()
    with local_signer(root) as signer, local_memory(root) as served:
        async with await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["admin"], policy=trust
        ) as admin:
            await admin.create_agent(AGENT, policy=SigningPolicy())
        sequencer = await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["runtime"], policy=trust
        )
        client = MemoryClient.connect(
            served.address, served.token, certificate_pem=served.certificate_pem
        )
        log = await TimedLog.open(agent_id=AGENT, directory=root / "log", sequencer=sequencer)
        assert isinstance(log, TimedLog)  # AgentLog.open makes an instance of its class
        memory = TimedMemory(client)
        phases = PhaseRecords()
        runtime_logger = logging.getLogger(PHASES_LOGGER)
        runtime_logger.addHandler(phases)
        runtime_logger.setLevel(logging.DEBUG)
        try:
            await preload(client, texts[: args.memories], vectors[: args.memories])
            models: list[tuple[str, ChatModel]] = [
                ("offline model", OfflineModel(client.embed)),
                ("instant scripted model", InstantModel()),
            ]
            for label, model in models:
                plugins, _ = resolve_plugins([])
                runtime = AgentRuntime(
                    agent_id=AGENT,
                    character=CHARACTER,
                    memory=memory,
                    model=model,
                    log=log,
                    plugins=plugins,
                )
                await runtime.start()
                held = await client.count(MemoryFilter(agent_id=AGENT, room_id=ROOM))
                print(f"-- {label}, {held:,} memories in the room")
                try:
                    await run(label, runtime, log, memory, phases, sends, args.warmup)
                finally:
                    await runtime.stop()
                    await model.aclose()
        finally:
            runtime_logger.removeHandler(phases)
            await log.close()
            await client.close()
            await sequencer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args, _ = parser.parse_known_args()  # ./dev bench passes its arguments to every bench
    print(f"runtime bench on {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main_async(Path(tmp), args))


if __name__ == "__main__":
    main()
