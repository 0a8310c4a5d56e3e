"""RPO with the memory change feed: an acknowledged memory or log entry to durable DA
(its chunk and a manifest naming it on the backend), with da-sync's periodic loop
running as deployed (every --interval s; a round with nothing new publishes nothing).

Real parts over loopback gRPC: the memory service (embedded Qdrant Edge, --existing
memories already stored, vectors given so no embedding is timed), a signer on the
INSECURE simulated TEE, the local directory DA backend. Anchoring on chain is not
included (bench/recovery_bench.py: one anchor update adds ~0.07 s).

A writer acknowledges one memory and one log entry every 1/--rate s. For each, RPO
is the time from its acknowledgement to the publication of the first manifest that
covers it (the manifest's memory cursor / log size). Two modes, same writes:
  deltas       the change feed: a snapshot once, then only what changed;
  whole        every sync uploads a whole export (compact_after_deltas=0), as before.
Prints p50/p99 RPO, bytes uploaded per sync and CPU seconds of this process per
sync. Not a pass/fail test; figures are noisy on a shared machine.
Usage: python bench/rpo_bench.py [--existing N] [--writes N] [--rate R] [--interval S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from machine import machine  # bench/machine.py, beside this script

from anima_core.auth import token_digest
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.log_source import LogSnapshot, read_log
from anima_dasync.memory_source import GrpcMemories
from anima_dasync.syncer import Syncer
from anima_memory.app import RunningMemory, start_memory
from anima_memory.config import MemoryConfig
from anima_memory_api.client import MemoryClient
from anima_memory_api.router import ShardedMemoryClient
from anima_memory_api.types import MemoryDraft
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from anima_signer_api.types import LogEntryInput, SigningPolicy
from anima_verify.attestation import MeasurementPolicy
from anima_verify.lifedata import parse_signed_manifest
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.reader import DirectorySource
from anima_verify.tlog.tiles import TILE_WIDTH, encode_entry_bundle, entries_path

AGENT = "rpo-agent"
TOKENS = {"admin": "bench-admin", "runtime": "bench-runtime", "dasync": "bench-dasync"}
MEMORY_TOKENS = {"runtime": "bench-mem-runtime", "dasync": "bench-mem-dasync"}
SIM = MeasurementPolicy.insecure_simulated_for_development()


class DirectoryLogs:
    """The agent's tiled log in a directory, as the runtime's log routes serve it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def read(self, agent_id: str, start: int) -> LogSnapshot:
        return await asyncio.to_thread(read_log, DirectorySource(self.root / agent_id), start)

    def write(self, agent_id: str, entries: list[bytes], checkpoint: bytes) -> None:
        base = self.root / agent_id
        last = (len(entries) - 1) // TILE_WIDTH
        bundle = entries[last * TILE_WIDTH :]
        path = base / entries_path(last, len(bundle))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_entry_bundle(bundle))
        for full in range(last):  # each full tile is written once
            full_path = base / entries_path(full, TILE_WIDTH)
            if not full_path.exists():
                full_path.parent.mkdir(parents=True, exist_ok=True)
                chunk = entries[full * TILE_WIDTH : (full + 1) * TILE_WIDTH]
                full_path.write_bytes(encode_entry_bundle(chunk))
        (base / "checkpoint").write_bytes(checkpoint)


class MeteredBackend(LocalDirectoryBackend):
    """The local backend, recording when each manifest became durable and its bytes."""

    def __init__(self, *, root: Path) -> None:
        super().__init__(root=root)
        # (time, memory cursor, log size, bytes this sync) per published manifest
        self.published: list[tuple[float, int, int, int]] = []
        self._pending = 0

    def put_chunk(self, chunk_id: str, data: bytes) -> None:
        super().put_chunk(chunk_id, data)
        self._pending += len(data)

    def publish_manifest(self, agent_id: str, version: int, data: bytes) -> None:
        super().publish_manifest(agent_id, version, data)
        counts = parse_signed_manifest(data).manifest.counts
        self.published.append(
            (
                time.perf_counter(),
                counts.get("memory_sequence", 0),
                counts["log_entries"],
                self._pending + len(data),
            )
        )
        self._pending = 0


def unit(rng: np.random.Generator) -> list[float]:
    v = rng.standard_normal(384).astype(np.float32)
    return [float(x) for x in v / np.linalg.norm(v)]


def draft(i: int, rng: np.random.Generator) -> MemoryDraft:
    return MemoryDraft(
        agent_id=AGENT,
        entity_id="user-1",
        room_id="room-1",
        table="messages",
        text=f"message {i}: the user talked about item {i % 97} and the weather",
        vector=unit(rng),
    )


@dataclass
class Stack:
    signer: RunningSigner
    memory: RunningMemory
    root: Path

    def memory_client(self, role: str) -> MemoryClient:
        return MemoryClient.connect(
            f"127.0.0.1:{self.memory.port}",
            MEMORY_TOKENS[role],
            certificate_pem=self.memory.certificate_pem,
        )

    async def signer_client(self, role: str) -> SignerClient:
        return await SignerClient.connect_attested(
            address=f"127.0.0.1:{self.signer.port}", token=TOKENS[role], policy=SIM
        )


async def start(root: Path) -> Stack:
    signer = await start_signer(
        SignerConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "state_dir": root / "signer",
                "tee": "sim",
                "callers": {n: token_digest(t) for n, t in TOKENS.items()},
                "log_origin_prefix": "bench.anima/agents",
            }
        )
    )
    memory = await start_memory(
        MemoryConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "data_dir": root / "memory",
                "callers": {n: token_digest(t) for n, t in MEMORY_TOKENS.items()},
                "embedded": {"index_after_points": 100_000},
            }
        )
    )
    return Stack(signer=signer, memory=memory, root=root)


async def run_mode(
    stack: Stack, mode: str, args: argparse.Namespace, entries: list[bytes], logs: DirectoryLogs
) -> dict[str, float]:
    backend = MeteredBackend(root=stack.root / f"da-{mode}")
    rng = np.random.default_rng(7)
    async with (
        await stack.signer_client("dasync") as dasync,
        await stack.signer_client("runtime") as runtime,
        stack.memory_client("runtime") as writer,
    ):
        memories = GrpcMemories(ShardedMemoryClient([stack.memory_client("dasync")]))
        syncer = Syncer(
            signer=dasync,
            backend=backend,
            logs=logs,
            memories=memories,
            compact_after_deltas=120 if mode == "deltas" else 0,
        )
        await syncer.sync(AGENT)  # the first manifest: a snapshot of what exists
        first_cursor = backend.published[-1][1]
        cpu0 = time.process_time()
        loop = asyncio.create_task(syncer.run_every(args.interval, [AGENT]))
        acks: list[tuple[float, int, int]] = []  # (time, memory cursor, log size) to cover
        try:
            for i in range(args.writes):
                await writer.create([draft(args.existing + i, rng)])
                result = await runtime.append_log(AGENT, len(entries), [entry(i)])
                entries += [e.entry for e in result.entries]
                logs.write(AGENT, entries, result.checkpoint)
                acks.append((time.perf_counter(), first_cursor + i + 1, len(entries)))
                await asyncio.sleep(1 / args.rate)
            deadline = time.perf_counter() + 30
            # Polls what the loop task publishes (no event to wait on across the backend).
            while backend.published[-1][1] < acks[-1][1] and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await memories.close()
        cpu = time.process_time() - cpu0
    syncs = backend.published[1:]
    rpo = [
        next(t for t, cursor, size, _ in syncs if cursor >= want and size >= log_size) - acked
        for acked, want, log_size in acks
    ]
    sizes = [b for *_, b in syncs]
    return {
        "p50": statistics.median(rpo),
        "p99": sorted(rpo)[min(len(rpo) - 1, int(0.99 * len(rpo)))],
        "max": max(rpo),
        "syncs": len(syncs),
        "bytes_median": statistics.median(sizes),
        "bytes_total": sum(sizes),
        "snapshot_bytes": backend.published[0][3],
        "cpu_per_sync": cpu / max(1, len(syncs)),
    }


def entry(n: int) -> LogEntryInput:
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="room-1",
        payload_sha256=(n % 256).to_bytes(1, "big") * 32,
        payload_size=n,
    )


async def run(args: argparse.Namespace, root: Path) -> None:
    stack = await start(root)
    try:
        async with await stack.signer_client("admin") as admin:
            await admin.create_agent(
                AGENT, policy=SigningPolicy(allowed_chain_ids=frozenset({31337}), max_value_wei=0)
            )
        rng = np.random.default_rng(1)
        started = time.perf_counter()
        async with stack.memory_client("runtime") as c:
            for at in range(0, args.existing, 1000):
                await c.create([draft(i, rng) for i in range(at, min(at + 1000, args.existing))])
        fill_s = time.perf_counter() - started
        logs = DirectoryLogs(root / "logs")
        entries: list[bytes] = []
        async with await stack.signer_client("runtime") as runtime:
            result = await runtime.append_log(AGENT, 0, [entry(0)])
        entries += [e.entry for e in result.entries]
        logs.write(AGENT, entries, result.checkpoint)
        figures = {mode: await run_mode(stack, mode, args, entries, logs) for mode in args.modes}
    finally:
        await stack.memory.stop(grace=0.2)
        await stack.signer.stop(grace=0.2)
    print(machine())
    print(
        f"{args.existing:,} existing memories (stored in {fill_s:.1f} s); {args.writes} writes "
        f"(1 memory + 1 log entry each) at {args.rate}/s; da-sync loop every {args.interval} s"
    )
    for mode, f in figures.items():
        print(
            f"  {mode:6s}: RPO p50 {f['p50']:.2f} s, p99 {f['p99']:.2f} s (max {f['max']:.2f}); "
            f"{f['syncs']} syncs, median {f['bytes_median'] / 1e3:,.1f} kB uploaded per sync "
            f"({f['bytes_total'] / 1e6:,.2f} MB in all; first snapshot "
            f"{f['snapshot_bytes'] / 1e6:,.2f} MB); CPU {f['cpu_per_sync'] * 1e3:.0f} ms "
            "per sync (this process: da-sync, memory service and signer together)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--rate", type=float, default=2.0, help="writes per second")
    parser.add_argument("--interval", type=float, default=1.0, help="da-sync loop period, s")
    parser.add_argument("--modes", nargs="+", default=["deltas", "whole"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
