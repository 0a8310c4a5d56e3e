"""Signer throughput: signing (raw, and over attested gRPC: unary, batched) and the log
sequencer's AppendLog (in-process and over gRPC, batches of 1, 256 and 4096 entries).

Every signature now includes its durable log entry (one SQLite commit per call,
one per batch). "Concurrent unary": --callers tasks each sending one Sign at a time
(in-process: each its own `Signer.sign` commit, then through the group commit the
gRPC server uses; over gRPC: one client, concurrent calls). With --witnesses N (1,
or 3 with quorum 2), N local witness processes cosign every checkpoint before the
signer releases anything (one round of witness calls per call or batch). Prints
figures and the machine they ran on; not a pass/fail test.
With --concurrent-only, just the concurrent calls over gRPC: each its own unary Sign,
then SignerClient.sign's coalescing (calls made while one is in flight share a SignBatch).
Usage: python bench/signer_bench.py [--seconds N] [--batch N] [--witnesses N] [--callers N]
       [--concurrent-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from machine import machine  # bench/machine.py, beside this script
from witness_bench import process_cpu_s

from anima_dev.local_signer import local_signer
from anima_dev.local_witness import LocalWitness, local_witness, signer_witness_env
from anima_signer.core import Signer
from anima_signer.group_commit import SignGroupCommit
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer.witnessing import WitnessEndpoint
from anima_signer_api import convert
from anima_signer_api.client import SignerClient
from anima_signer_api.failures import SignFailure
from anima_signer_api.types import (
    Ed25519Message,
    LogEntryInput,
    PersonalMessage,
    SigningPolicy,
    SignRequest,
    SignResult,
)
from anima_verify.attestation import MeasurementPolicy
from anima_verify.tlog.cosignature import parse_cosigner_key
from anima_verify.tlog.entry import EntryKind

LOG_BATCHES = (1, 256, 4096)


def rate(fn: Callable[[int], object], seconds: float) -> float:
    """Operations per second of fn(i), run for about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn(count)
            count += 1
    return count / elapsed


def raw_signers() -> dict[str, Callable[[int], object]]:
    secp = coincurve.PrivateKey()
    digests = [os.urandom(32) for _ in range(1024)]
    ed = Ed25519PrivateKey.generate()
    return {
        "secp256k1": lambda i: secp.sign_recoverable(digests[i % 1024], hasher=None),
        "ed25519": lambda i: ed.sign(digests[i % 1024]),
    }


def raw_rates(seconds: float) -> dict[str, float]:
    return {name: rate(sign, seconds) for name, sign in raw_signers().items()}


def raw_cpu_us(count: int = 20_000) -> dict[str, float]:
    """CPU time of one raw signature, in µs (what load disturbs least)."""
    out = {}
    for name, sign in raw_signers().items():
        start = time.process_time()
        for i in range(count):
            sign(i)
        out[name] = (time.process_time() - start) / count * 1e6
    return out


def log_inputs(count: int) -> list[LogEntryInput]:
    """Host entries as the runtime sends them: a message hash and size, short labels."""
    return [
        LogEntryInput(
            kind=EntryKind.MESSAGE_IN,
            actor="user:1234",
            room="room-5678",
            payload_sha256=hashlib.sha256(i.to_bytes(8, "big")).digest(),
            payload_size=200,
        )
        for i in range(count)
    ]


def quorum_of(count: int) -> int:
    """A majority: 1 of 1, 2 of 3."""
    return count // 2 + 1 if count else 0


class ConcurrentHost:
    """Plays the host for concurrent callers: collects the log tail every 2,048 signatures."""

    def __init__(self, append_log: Callable[[int], Awaitable[int]]) -> None:
        self._append_log = append_log  # host_size -> the log's new size
        self._lock = asyncio.Lock()
        self._host_size = 0
        self._since = 0

    async def signed(self) -> None:
        self._since += 1
        if self._since >= TailCollector.EVERY:
            async with self._lock:
                if self._since >= TailCollector.EVERY:
                    self._since = 0
                    self._host_size = await self._append_log(self._host_size)


async def concurrent_unary(
    sign: Callable[[SignRequest], Awaitable[SignResult]],
    host: ConcurrentHost,
    agent_id: str,
    callers: int,
    seconds: float,
) -> tuple[int, float]:
    """(signatures, seconds) of `callers` tasks each awaiting one unary sign at a time."""
    signed, deadline = 0, time.perf_counter() + seconds

    async def caller(n: int) -> None:
        nonlocal signed
        i = 0
        while time.perf_counter() < deadline:
            await sign(SignRequest(agent_id, PersonalMessage(b"c%d-%d-%f" % (n, i, deadline))))
            i += 1
            signed += 1
            await host.signed()

    start = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    return signed, time.perf_counter() - start


async def in_process_concurrent(signer: Signer, callers: int, seconds: float) -> dict[str, float]:
    """Concurrent unary signing in-process: one commit per call, then group commit.
    CPU per signature is this process's (signer and callers), host collection included."""
    agent_id = "bench-c"
    signer.create_agent(
        agent_id=agent_id, wallet_count=1, policy=SigningPolicy(allow_personal_messages=True)
    )

    async def append_log(host_size: int) -> int:
        return (await asyncio.to_thread(signer.append_log, agent_id, host_size, [])).size

    async def one_commit_each(request: SignRequest) -> SignResult:
        return await asyncio.to_thread(signer.sign, request)

    host = ConcurrentHost(append_log)
    grouped = SignGroupCommit(signer)
    out = {}
    for name, sign in (("each", one_commit_each), ("grouped", grouped.sign)):
        cpu0 = time.process_time()
        signed, elapsed = await concurrent_unary(sign, host, agent_id, callers, seconds)
        out[f"concurrent_{name}"] = signed / elapsed
        out[f"concurrent_{name}_cpu_us"] = (time.process_time() - cpu0) / max(signed, 1) * 1e6
    return out


async def in_process_figures(
    seconds: float, batch: int, witnesses: list[LocalWitness], callers: int
) -> dict[str, float]:
    """The signer core alone: AppendLog per batch size, and sign_many (with its log entries)."""
    out: dict[str, float] = {}
    endpoints = [
        WitnessEndpoint(parse_cosigner_key(w.verifier_key), w.url, w.registration_token)
        for w in witnesses
    ]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        signer = await Signer.open(
            tee=InsecureSimulatedTee(state_dir=state),
            state_dir=state,
            log_origin_prefix="bench",
            witnesses=endpoints,
            witness_quorum=quorum_of(len(endpoints)),
        )
        try:
            policy = SigningPolicy(allow_personal_messages=True, allow_raw_ed25519=True)
            signer.create_agent(agent_id="bench", wallet_count=1, policy=policy)
            host_size = 0
            for size in LOG_BATCHES:
                inputs, appended, start = log_inputs(size), 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    # A host that stores each answer before its next call.
                    host_size = signer.append_log("bench", host_size, inputs).size
                    appended += size
                out[f"append_{size}"] = appended / (time.perf_counter() - start)
            payloads = {
                "secp256k1": lambda i: PersonalMessage(i.to_bytes(8, "big") * 4),
                "ed25519": lambda i: Ed25519Message(i.to_bytes(8, "big") * 4),
            }
            for name, make in payloads.items():
                signed, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    signer.sign_many([SignRequest("bench", make(signed + k)) for k in range(batch)])
                    signed += batch
                    host_size = signer.append_log("bench", host_size, []).size
                out[f"sign_many_{name}"] = signed / (time.perf_counter() - start)
            out |= await in_process_concurrent(signer, callers, seconds)
        finally:
            signer.close()
    return out


async def grpc_log_figures(
    address: str, tokens: dict[str, str], seconds: float
) -> dict[str, dict[str, float]]:
    """AppendLog over attested gRPC: entries/s and latency per call, per batch size."""
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with await SignerClient.connect_attested(
        address=address, token=tokens["admin"], policy=trust
    ) as admin:
        await admin.create_agent("bench-log", policy=SigningPolicy())
    out: dict[str, dict[str, float]] = {}
    async with await SignerClient.connect_attested(
        address=address, token=tokens["runtime"], policy=trust
    ) as client:
        host_size = (await client.append_log("bench-log", 0)).size
        for size in LOG_BATCHES:
            inputs = log_inputs(size)
            latencies: list[float] = []
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                host_size = (await client.append_log("bench-log", host_size, inputs)).size
                latencies.append(time.perf_counter() - t0)
            out[str(size)] = {
                "rate": size * len(latencies) / (time.perf_counter() - start),
                "p50_ms": statistics.median(latencies) * 1e3,
                "p99_ms": percentile(latencies, 0.99) * 1e3,
            }
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class TailCollector:
    """Plays the host: collects the signature entries before the enclave's tail fills up."""

    # Signatures between collections. Each collection confirms the one before it, so the
    # enclave holds up to about 2x this (it keeps up to 8192).
    EVERY = 2048

    def __init__(self, client: SignerClient, agent_id: str) -> None:
        self._client = client
        self._agent_id = agent_id
        self._host_size = 0
        self._since = 0

    async def signed(self, count: int) -> None:
        self._since += count
        if self._since >= self.EVERY:
            self._host_size = (await self._client.append_log(self._agent_id, self._host_size)).size
            self._since = 0


async def grpc_figures(
    address: str, tokens: dict[str, str], seconds: float, batch: int, signer_pid: int
) -> dict[str, dict[str, float]]:
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with await SignerClient.connect_attested(
        address=address, token=tokens["admin"], policy=trust
    ) as admin:
        agent = await admin.create_agent(
            "bench", policy=SigningPolicy(allow_personal_messages=True, allow_raw_ed25519=True)
        )
    payloads = {
        "secp256k1": lambda i: PersonalMessage(i.to_bytes(8, "big") * 4),
        "ed25519": lambda i: Ed25519Message(i.to_bytes(8, "big") * 4),
    }
    out: dict[str, dict[str, float]] = {}
    async with await SignerClient.connect_attested(
        address=address, token=tokens["runtime"], policy=trust
    ) as client:
        host = TailCollector(client, agent.agent_id)
        for name, make in payloads.items():
            for i in range(200):  # warm up
                await client.sign(SignRequest(agent.agent_id, make(i)))
            await host.signed(200)
            latencies: list[float] = []
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                await client.sign(SignRequest(agent.agent_id, make(i)))
                latencies.append(time.perf_counter() - t0)
                i += 1
                await host.signed(1)
            unary_rate = len(latencies) / (time.perf_counter() - start)

            signed, start = 0, time.perf_counter()
            cpu0 = process_cpu_s(signer_pid)
            while time.perf_counter() - start < seconds:
                results = await client.sign_batch(
                    SignRequest(agent.agent_id, make(signed + k)) for k in range(batch)
                )
                assert not any(isinstance(r, SignFailure) for r in results)
                signed += len(results)
                await host.signed(len(results))
            batch_rate = signed / (time.perf_counter() - start)
            batch_cpu_us = (process_cpu_s(signer_pid) - cpu0) / signed * 1e6

            # Two batches in flight so the signer never waits on the client's encoding.
            signed, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                groups = await asyncio.gather(
                    *(
                        client.sign_batch(
                            SignRequest(agent.agent_id, make(signed + k)) for k in range(batch)
                        )
                        for _ in range(2)
                    )
                )
                assert not any(isinstance(r, SignFailure) for g in groups for r in g)
                signed += sum(len(g) for g in groups)
                await host.signed(sum(len(g) for g in groups))
            pipelined_rate = signed / (time.perf_counter() - start)
            out[name] = {
                "unary_p50_ms": statistics.median(latencies) * 1e3,
                "unary_p99_ms": percentile(latencies, 0.99) * 1e3,
                "unary_rate": unary_rate,
                "batch_rate": batch_rate,
                "pipelined_batch_rate": pipelined_rate,
                "batch_signer_cpu_us": batch_cpu_us,
            }
    return out


async def grpc_concurrent(
    address: str, tokens: dict[str, str], seconds: float, callers: int, signer_pid: int
) -> dict[str, dict[str, float]]:
    """Concurrent sign calls over one attested channel, each as its own unary Sign and
    through the client's coalescing (SignerClient.sign: calls made while one is in flight
    share a SignBatch): signatures/s, and CPU per signature of the signer process (from
    /proc) and of this client process (what the machine's load disturbs least)."""
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with await SignerClient.connect_attested(
        address=address, token=tokens["admin"], policy=trust
    ) as admin:
        await admin.create_agent("bench-c", policy=SigningPolicy(allow_personal_messages=True))
    out: dict[str, dict[str, float]] = {}
    async with await SignerClient.connect_attested(
        address=address, token=tokens["runtime"], policy=trust
    ) as client:

        async def append_log(host_size: int) -> int:
            return (await client.append_log("bench-c", host_size)).size

        async def each_unary(request: SignRequest) -> SignResult:
            # The client's own unary path, as SignerClient.sign was before coalescing.
            wire = convert.sign_request_to_proto(request)
            return convert.result_from_proto(await client._sign_one(wire, False))

        host = ConcurrentHost(append_log)
        for mode, sign in (("unary", each_unary), ("coalesced", client.sign)):
            await concurrent_unary(sign, host, "bench-c", callers, 0.3)  # warm up
            cpu0, client_cpu0 = process_cpu_s(signer_pid), time.process_time()
            signed, elapsed = await concurrent_unary(sign, host, "bench-c", callers, seconds)
            cpu = process_cpu_s(signer_pid) - cpu0
            client_cpu = time.process_time() - client_cpu0
            out[mode] = {
                "rate": signed / elapsed,
                "signer_cpu_us": cpu / max(signed, 1) * 1e6,
                "client_cpu_us": client_cpu / max(signed, 1) * 1e6,
            }
    return out


def print_concurrent(concurrent: dict[str, dict[str, float]]) -> None:
    for mode, label in (
        ("unary", "over gRPC, each its own Sign:"),
        ("coalesced", "over gRPC, client coalescing:"),
    ):
        f = concurrent[mode]
        print(
            f"  {label:<30} {f['rate']:,.0f}/s, {f['signer_cpu_us']:.0f} us signer CPU, "
            f"{f['client_cpu_us']:.0f} us client CPU per signature"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--batch", type=int, default=256, help="requests per SignBatch call")
    parser.add_argument(
        "--witnesses", type=int, default=0, help="local witness processes (quorum: a majority)"
    )
    parser.add_argument("--callers", type=int, default=64, help="concurrent unary callers (tasks)")
    parser.add_argument(
        "--concurrent-only",
        action="store_true",
        help="only concurrent signing over gRPC (each its own Sign, then coalesced)",
    )
    args = parser.parse_args()
    if args.concurrent_only:
        with tempfile.TemporaryDirectory() as tmp, local_signer(Path(tmp)) as signer:
            concurrent = asyncio.run(
                grpc_concurrent(
                    signer.address, signer.tokens, args.seconds, args.callers, signer.process.pid
                )
            )
        print(f"machine: {machine()}")
        print(f"concurrent signing (secp256k1, {args.callers} callers, one call at a time each):")
        print_concurrent(concurrent)
        return

    print(f"machine: {machine()}")
    raw = raw_rates(args.seconds)
    raw_cpu = raw_cpu_us()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        witnesses = [
            stack.enter_context(local_witness(Path(tmp) / f"w{i}", name=f"bench-w{i}.local"))
            for i in range(args.witnesses)
        ]
        quorum = quorum_of(len(witnesses))
        env = signer_witness_env(witnesses, quorum) if witnesses else None
        core = asyncio.run(in_process_figures(args.seconds, args.batch, witnesses, args.callers))
        signer = stack.enter_context(local_signer(Path(tmp), env=env))
        over_grpc = asyncio.run(
            grpc_figures(
                signer.address, signer.tokens, args.seconds, args.batch, signer.process.pid
            )
        )
        log_over_grpc = asyncio.run(grpc_log_figures(signer.address, signer.tokens, args.seconds))
        concurrent = asyncio.run(
            grpc_concurrent(
                signer.address, signer.tokens, args.seconds, args.callers, signer.process.pid
            )
        )
    print(
        "signer process: separate, INSECURE simulated TEE, TLS on loopback; client in this process"
    )
    if witnesses:
        print(
            f"witnessed: {len(witnesses)} local witness process(es), quorum {quorum}; nothing "
            "is released before the quorum cosigned the checkpoint that holds it"
        )
    else:
        print("unwitnessed (INSECURE against a restored signer state)")
    print("every signature is appended to the agent's log (durable commit) before it is returned")
    print(
        f"{'algorithm':<10} {'raw/s':>9} {'core batch/s':>13} {'unary p50':>10} "
        f"{'unary p99':>10} {'unary/s':>8} {'batch/s':>9} {'% raw':>6} {'2x batch/s':>11} "
        f"{'% raw':>6}"
    )
    for name, figures in over_grpc.items():
        r, f = raw[name], figures
        print(
            f"{name:<10} {r:>9,.0f} {core[f'sign_many_{name}']:>13,.0f} "
            f"{f['unary_p50_ms']:>8.3f}ms {f['unary_p99_ms']:>8.3f}ms "
            f"{figures['unary_rate']:>8,.0f} {figures['batch_rate']:>9,.0f} "
            f"{100 * figures['batch_rate'] / r:>5.0f}% {figures['pipelined_batch_rate']:>11,.0f} "
            f"{100 * figures['pipelined_batch_rate'] / r:>5.0f}%"
        )
    print(f"targets: batched >= 50% of raw; unary p50 <= 1 ms (batch size {args.batch})")
    print("in CPU time (load disturbs it least): raw signature vs the signer process per")
    print("signature in SignBatch (its log entry, commit, checkpoint and gRPC included)")
    for name, figures in over_grpc.items():
        signer_us = figures["batch_signer_cpu_us"]
        print(
            f"  {name:<10} raw {raw_cpu[name]:.1f} us, signer {signer_us:.1f} us: "
            f"{100 * raw_cpu[name] / signer_us:.0f}% of raw"
        )
    print(
        f"concurrent unary signing (secp256k1, {args.callers} callers each signing once at a "
        "time; CPU per signature: in-process this process's, over gRPC the signer's):"
    )
    print(
        f"  in-process, one commit each: {core['concurrent_each']:,.0f}/s, "
        f"{core['concurrent_each_cpu_us']:.0f} us CPU/signature"
    )
    print(
        f"  in-process, group commit:    {core['concurrent_grouped']:,.0f}/s, "
        f"{core['concurrent_grouped_cpu_us']:.0f} us CPU/signature"
    )
    print_concurrent(concurrent)
    print("target (issue 20): concurrent unary >= 10,000/s (group commit)")
    print("log sequencer (AppendLog; each call = one durable commit + one signed checkpoint)")
    print(
        f"{'entries/call':>12} {'in-process/s':>13} {'gRPC/s':>10} {'gRPC p50':>10} "
        f"{'gRPC p99':>10}"
    )
    for size in LOG_BATCHES:
        g = log_over_grpc[str(size)]
        print(
            f"{size:>12,} {core[f'append_{size}']:>13,.0f} {g['rate']:>10,.0f} "
            f"{g['p50_ms']:>8.3f}ms {g['p99_ms']:>8.3f}ms"
        )
    print("target (issue 3, whole log): 10,000 entries/s with a fresh checkpoint every second")


if __name__ == "__main__":
    main()
