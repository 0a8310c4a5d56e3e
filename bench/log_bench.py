"""The verifiable log on the host: sustained appends, proof latency, full audit.

(a) appends through AgentLog, the signer a separate process over attested gRPC,
    many concurrent producers: entries/s and the interval between checkpoints;
(b) a 1,000,000-entry log built through the in-process signer and the tile
    store (build time), then inclusion and consistency proofs served over HTTP
    by uvicorn in another process: p50/p99 latency seen by a keep-alive client;
(c) verify_tiled_log over that log (directory, and over HTTP).

With --witnesses N (1, or 3 with quorum 2), (a) runs with N local witness
processes: every checkpoint the host receives is cosigned first.

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/log_bench.py [--seconds N] [--producers N] [--entries N] [--skip-append]
       [--witnesses N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from machine import machine  # bench/machine.py, beside this script

from anima_dev.inprocess_log import InProcessSequencer
from anima_dev.local_signer import local_signer
from anima_dev.local_witness import local_witness, signer_witness_env
from anima_runtime.log.items import LogItem
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.service import TILES_DIR, AgentLog
from anima_runtime.log.tiles_store import PublishedCheckpoint
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.client import SignerClient
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.note import parse_verifier_key
from anima_verify.tlog.reader import DirectorySource, HttpSource
from anima_verify.tlog.verify import verify_tiled_log

AGENT = "bench"
ORIGIN_PREFIX = "bench.anima/agents"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def message(i: int) -> LogItem:
    return LogItem(EntryKind.MESSAGE_IN, f"user{i % 50}", f"room{i % 7}", b"m" * (64 + i % 64))


# ---------------------------------------------------------------- (a) appends over gRPC


async def appends_over_grpc(
    state: Path, seconds: float, producers: int, per_call: int, witness_count: int = 0
) -> None:
    trust = MeasurementPolicy.insecure_simulated_for_development()
    with contextlib.ExitStack() as stack:
        witnesses = [
            stack.enter_context(local_witness(state / f"w{i}", name=f"bench-w{i}.local"))
            for i in range(witness_count)
        ]
        quorum = witness_count // 2 + 1 if witness_count else 0
        env = signer_witness_env(witnesses, quorum) if witnesses else None
        signer = stack.enter_context(local_signer(state, env=env))
        async with await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["admin"], policy=trust
        ) as admin:
            await admin.create_agent(AGENT, policy=SigningPolicy())
        client = await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["runtime"], policy=trust
        )
        log = await AgentLog.open(agent_id=AGENT, directory=state / "log", sequencer=client)
        published: list[tuple[float, int]] = []

        def on_checkpoint(checkpoint: PublishedCheckpoint) -> None:
            published.append((time.perf_counter(), checkpoint.size))

        log.add_checkpoint_listener(on_checkpoint)
        stop = False
        latencies: list[float] = []

        async def produce(p: int) -> None:
            i = 0
            while not stop:
                t0 = time.perf_counter()
                await log.append([message(p * 1_000_000 + i + k) for k in range(per_call)])
                latencies.append(time.perf_counter() - t0)
                i += per_call

        await asyncio.sleep(0)
        tasks = [asyncio.create_task(produce(p)) for p in range(producers)]
        await asyncio.sleep(1.0)  # warm up
        size0, t0, first = log.size, time.perf_counter(), len(published)
        latencies.clear()
        await asyncio.sleep(seconds)
        size1, t1 = log.size, time.perf_counter()
        stop = True
        await asyncio.gather(*tasks)
        window = [t for t, _ in published[first:] if t <= t1]
        gaps = [b - a for a, b in zip([t0, *window], [*window, t1], strict=False)]
        sizes = [s for _, s in published[first:]]
        batches = [b - a for a, b in itertools.pairwise(sizes)]
        await log.close()
        await client.close()
    rate = (size1 - size0) / (t1 - t0)
    witnessed = (
        f"witnessed by {witness_count} local witness(es), quorum {witness_count // 2 + 1}"
        if witness_count
        else "unwitnessed"
    )
    print(
        f"(a) appends, signer in its own process over attested gRPC (TLS, token, tracing), "
        f"{producers} producers x {per_call} entr{'y' if per_call == 1 else 'ies'} per append, "
        f"{witnessed}:"
    )
    print(f"    {rate:,.0f} entries/s sustained over {t1 - t0:.1f} s ({size1 - size0:,} entries)")
    print(
        f"    checkpoints: {len(window)} in the window, interval p50 "
        f"{statistics.median(gaps) * 1e3:.0f} ms, max {max(gaps) * 1e3:.0f} ms; "
        f"entries per flush p50 {statistics.median(batches) if batches else 0:.0f}"
    )
    print(
        f"    append latency (until the covering checkpoint is durable): "
        f"p50 {statistics.median(latencies) * 1e3:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1e3:.1f} ms"
    )


# ---------------------------------------------------------------- (b) the 1M log


async def open_core(state: Path) -> Signer:
    (state / "signer").mkdir(parents=True, exist_ok=True)
    return await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state / "signer"),
        state_dir=state / "signer",
        log_origin_prefix=ORIGIN_PREFIX,
    )


async def build_big_log(state: Path, entries: int) -> str:
    signer = await open_core(state)
    signer.create_agent(agent_id=AGENT, wallet_count=1, policy=SigningPolicy())
    log = await AgentLog.open(
        agent_id=AGENT,
        directory=state / "logs" / AGENT,
        sequencer=InProcessSequencer(signer),
        sync_interval_s=None,
    )
    t0 = time.perf_counter()
    chunk = 65_536
    for start in range(0, entries - 1, chunk):
        await log.append([message(i) for i in range(start, min(entries - 1, start + chunk))])
    elapsed = time.perf_counter() - t0
    size = log.size
    await log.close()
    vkey = signer.get_agent(AGENT).log_verifier_key
    signer.close()
    print(
        f"(b) built a {size:,}-entry log through the in-process signer and the tile store "
        f"in {elapsed:.1f} s ({size / elapsed:,.0f} entries/s, appends of {chunk:,})"
    )
    return vkey


async def serve(state: Path, ready: Path) -> None:
    """Child process: serve the built log with uvicorn until killed."""
    import uvicorn

    from anima_runtime.log.http import create_log_app

    signer = await open_core(state)
    sequencer = InProcessSequencer(signer)
    registry = LogRegistry(root=state / "logs", sequencer=sequencer, sync_interval_s=None)
    await registry.open_existing()
    # Attestation too, for the explorer's bench (bench/explorer_bench.py) that reuses this.
    app = create_log_app(registry, attestation=sequencer.attestation)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    await asyncio.to_thread(ready.write_text, json.dumps({"port": port}))
    await task


def proof_latencies(base: str, size: int, requests: int) -> dict[str, tuple[float, float, float]]:
    rng = random.Random(1)
    out: dict[str, tuple[float, float, float]] = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        for name, make in {
            "inclusion": lambda: ("/proof/inclusion", {"index": rng.randrange(size)}),
            "consistency": lambda: ("/proof/consistency", {"first": rng.randrange(1, size)}),
        }.items():
            for warm in (True, False):
                latencies = []
                for _ in range(requests):
                    path, params = make()
                    t0 = time.perf_counter()
                    response = client.get(path, params=params)
                    latencies.append(time.perf_counter() - t0)
                    response.raise_for_status()
                if warm:
                    cold = percentile(latencies, 0.99)
                    continue
                out[name] = (
                    statistics.median(latencies) * 1e3,
                    percentile(latencies, 0.99) * 1e3,
                    cold * 1e3,
                )
    return out


def big_log_figures(state: Path, vkey: str, requests: int) -> None:
    ready = state / "server.ready"
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(state), str(ready)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the log server did not start")
            time.sleep(0.05)
        port = json.loads(ready.read_text())["port"]
        base = f"http://127.0.0.1:{port}/v1/logs/{AGENT}"
        size = int(httpx.get(f"{base}/checkpoint").text.split("\n")[1])
        figures = proof_latencies(base, size, requests)
        print(
            f"    proofs over HTTP (uvicorn in its own process, keep-alive client, "
            f"{requests} random requests each after {requests} warm-up):"
        )
        for name, (p50, p99, cold_p99) in figures.items():
            print(
                f"    {name:<12} p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                f"(during warm-up: p99 {cold_p99:.2f} ms)"
            )
        verifiers = [parse_verifier_key(vkey)]
        t0 = time.perf_counter()
        report = verify_tiled_log(
            DirectorySource(state / "logs" / AGENT / TILES_DIR),
            verifiers,
            witnesses=WitnessPolicy.insecure_unwitnessed(),
        )
        local = time.perf_counter() - t0
        t0 = time.perf_counter()
        with HttpSource(base) as source:
            over_http = verify_tiled_log(
                source, verifiers, witnesses=WitnessPolicy.insecure_unwitnessed()
            )
        remote = time.perf_counter() - t0
        assert report.root_hash == over_http.root_hash
        print(
            f"(c) verify_tiled_log of {report.size:,} entries: {local:.1f} s from the directory, "
            f"{remote:.1f} s over HTTP from the server"
        )
    finally:
        child.terminate()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="(a) measured duration")
    parser.add_argument("--producers", type=int, default=1024, help="(a) concurrent producers")
    parser.add_argument("--per-call", type=int, default=1, help="(a) entries per append call")
    parser.add_argument("--entries", type=int, default=1_000_000, help="(b) size of the big log")
    parser.add_argument("--requests", type=int, default=2000, help="(b) proofs of each kind")
    parser.add_argument("--skip-append", action="store_true", help="skip (a)")
    parser.add_argument("--skip-big", action="store_true", help="skip (b) and (c)")
    parser.add_argument("--witnesses", type=int, default=0, help="(a) local witness processes")
    parser.add_argument("--serve", nargs=2, metavar=("STATE", "READY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve[0]), Path(args.serve[1])))
        return

    print(f"machine: {machine()}")
    if not args.skip_append:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(
                appends_over_grpc(
                    Path(tmp), args.seconds, args.producers, args.per_call, args.witnesses
                )
            )
    if not args.skip_big:
        tmp = Path(tempfile.mkdtemp())
        try:
            vkey = asyncio.run(build_big_log(tmp, args.entries))
            big_log_figures(tmp, vkey, args.requests)
        finally:
            shutil.rmtree(tmp)
    print(
        "targets: >= 10,000 entries/s with a checkpoint at least every second; "
        "proof p99 <= 5 ms on 1,000,000 entries; full audit <= 60 s"
    )


if __name__ == "__main__":
    main()
