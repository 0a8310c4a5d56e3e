"""Signing throughput: raw in-process vs. the signer over attested gRPC (unary, batched, stream).

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/signer_bench.py [--seconds N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_core.attestation import MeasurementPolicy
from anima_signer.client import SignerClient, SignFailure
from anima_signer.local import local_signer
from anima_signer.models import Ed25519Message, PersonalMessage, SigningPolicy, SignRequest


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def rate(fn: Callable[[int], None], seconds: float) -> float:
    """Operations per second of fn(i), run for about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn(count)
            count += 1
    return count / elapsed


def raw_rates(seconds: float) -> dict[str, float]:
    secp = coincurve.PrivateKey()
    digests = [os.urandom(32) for _ in range(1024)]
    ed = Ed25519PrivateKey.generate()
    return {
        "secp256k1": rate(lambda i: secp.sign_recoverable(digests[i % 1024], hasher=None), seconds),
        "ed25519": rate(lambda i: ed.sign(digests[i % 1024]), seconds),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def grpc_figures(
    address: str, tokens: dict[str, str], seconds: float, batch: int
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
        for name, make in payloads.items():
            for i in range(200):  # warm up
                await client.sign(SignRequest(agent.agent_id, make(i)))
            latencies: list[float] = []
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                await client.sign(SignRequest(agent.agent_id, make(i)))
                latencies.append(time.perf_counter() - t0)
                i += 1
            unary_rate = len(latencies) / (time.perf_counter() - start)

            signed, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                results = await client.sign_batch(
                    SignRequest(agent.agent_id, make(signed + k)) for k in range(batch)
                )
                assert not any(isinstance(r, SignFailure) for r in results)
                signed += len(results)
            batch_rate = signed / (time.perf_counter() - start)

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
                signed += sum(len(g) for g in groups)
            pipelined_rate = signed / (time.perf_counter() - start)
            out[name] = {
                "unary_p50_ms": statistics.median(latencies) * 1e3,
                "unary_p99_ms": percentile(latencies, 0.99) * 1e3,
                "unary_rate": unary_rate,
                "batch_rate": batch_rate,
                "pipelined_batch_rate": pipelined_rate,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--batch", type=int, default=256, help="requests per SignBatch call")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    raw = raw_rates(args.seconds)
    with tempfile.TemporaryDirectory() as tmp, local_signer(Path(tmp)) as signer:
        over_grpc = asyncio.run(
            grpc_figures(signer.address, signer.tokens, args.seconds, args.batch)
        )
    print(
        "signer process: separate, INSECURE simulated TEE, TLS on loopback; client in this process"
    )
    print(
        f"{'algorithm':<10} {'raw/s':>9} {'unary p50':>10} {'unary p99':>10} {'unary/s':>8} "
        f"{'batch/s':>9} {'% raw':>6} {'2x batch/s':>11} {'% raw':>6}"
    )
    for name, figures in over_grpc.items():
        r, f = raw[name], figures
        print(
            f"{name:<10} {r:>9,.0f} {f['unary_p50_ms']:>8.3f}ms {f['unary_p99_ms']:>8.3f}ms "
            f"{figures['unary_rate']:>8,.0f} {figures['batch_rate']:>9,.0f} "
            f"{100 * figures['batch_rate'] / r:>5.0f}% {figures['pipelined_batch_rate']:>11,.0f} "
            f"{100 * figures['pipelined_batch_rate'] / r:>5.0f}%"
        )
    print(f"targets: batched >= 50% of raw; unary p50 <= 1 ms (batch size {args.batch})")


if __name__ == "__main__":
    main()
