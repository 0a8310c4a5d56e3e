"""What witnessing costs a batch of signatures, in CPU time (which does not depend on
how loaded the machine is) and in wall time.

The signer core runs in this process with 0, 1 or 3 local witness processes
(quorum: a majority). For each setting: batches of --batch Ed25519 signatures
through sign_many, each followed by the host's AppendLog (as the runtime does).
Prints per batch: wall p50/p99, this process's CPU time, and the witness
processes' CPU time (from /proc), so the cost of a round can be read apart from
the machine's load. Not a pass/fail test.
Usage: python bench/witness_bench.py [--batches N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import machine  # bench/machine.py, beside this script

from anima_dev.local_witness import local_witness
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer.witnessing import WitnessEndpoint
from anima_signer_api.types import Ed25519Message, SigningPolicy, SignRequest
from anima_verify.tlog.cosignature import parse_cosigner_key

AGENT = "bench"
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def witness_pids(state: Path) -> list[int]:
    """The witness processes serving state dirs under `state` (their command lines)."""
    out = subprocess.run(["pgrep", "-f", f"state-dir {state}/w"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


async def measure(count: int, batches: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        state = Path(tmp)
        witnesses = [
            stack.enter_context(local_witness(state / f"w{i}", name=f"bench-w{i}.local"))
            for i in range(count)
        ]
        endpoints = [
            WitnessEndpoint(parse_cosigner_key(w.verifier_key), w.url, w.registration_token)
            for w in witnesses
        ]
        signer = await Signer.open(
            tee=InsecureSimulatedTee(state_dir=state / "s"),
            state_dir=state / "s",
            log_origin_prefix="bench",
            witnesses=endpoints,
            witness_quorum=count // 2 + 1 if count else 0,
        )
        pids = witness_pids(state)
        try:
            signer.create_agent(
                agent_id=AGENT, wallet_count=1, policy=SigningPolicy(allow_raw_ed25519=True)
            )
            host = signer.append_log(AGENT, 0, []).size
            for n in range(5):  # warm up
                signer.sign_many(
                    [SignRequest(AGENT, Ed25519Message(b"w%d-%d" % (n, k))) for k in range(batch)]
                )
                host = signer.append_log(AGENT, host, []).size
            walls: list[float] = []
            cpu0, witness0 = time.process_time(), sum(process_cpu_s(p) for p in pids)
            for n in range(batches):
                requests = [
                    SignRequest(AGENT, Ed25519Message(b"%d-%d" % (n, k))) for k in range(batch)
                ]
                t0 = time.perf_counter()
                results = signer.sign_many(requests)
                host = signer.append_log(AGENT, host, []).size
                walls.append(time.perf_counter() - t0)
                if any(isinstance(r, Exception) for r in results):
                    raise RuntimeError(f"a signature failed: {results[0]}")
            cpu = (time.process_time() - cpu0) / batches
            witness_cpu = (sum(process_cpu_s(p) for p in pids) - witness0) / batches
            # Two batches in flight (two callers): a round runs while the next batch
            # signs and commits, and then witnesses everything committed meanwhile.
            with ThreadPoolExecutor(2) as pool:
                start = time.perf_counter()
                for n in range(batches // 2):
                    groups = [
                        [
                            SignRequest(AGENT, Ed25519Message(b"p%d-%d-%d" % (n, g, k)))
                            for k in range(batch)
                        ]
                        for g in range(2)
                    ]
                    for results in pool.map(signer.sign_many, groups):
                        if any(isinstance(r, Exception) for r in results):
                            raise RuntimeError(f"a signature failed: {results[0]}")
                    host = signer.append_log(AGENT, host, []).size
                pipelined = (batches // 2) * 2 * batch / (time.perf_counter() - start)
        finally:
            signer.close()
    walls.sort()
    return {
        "wall_p50_ms": statistics.median(walls) * 1e3,
        "wall_p99_ms": walls[min(len(walls) - 1, int(0.99 * len(walls)))] * 1e3,
        "signer_cpu_ms": cpu * 1e3,
        "witness_cpu_ms": witness_cpu * 1e3,
        "pipelined_rate": pipelined,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=100, help="batches per setting")
    parser.add_argument("--batch", type=int, default=256, help="signatures per batch")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"per batch of {args.batch} Ed25519 signatures (sign_many + the host's AppendLog):")
    print(
        f"{'witnesses':>9} {'wall p50':>10} {'wall p99':>10} {'signer CPU':>11} "
        f"{'witness CPU':>12} {'signatures/s':>13} {'2 in flight/s':>14}"
    )
    for count in (0, 1, 3):
        f = asyncio.run(measure(count, args.batches, args.batch))
        print(
            f"{count:>9} {f['wall_p50_ms']:>8.1f}ms {f['wall_p99_ms']:>8.1f}ms "
            f"{f['signer_cpu_ms']:>9.1f}ms {f['witness_cpu_ms']:>10.1f}ms "
            f"{args.batch / f['wall_p50_ms'] * 1e3:>13,.0f} {f['pipelined_rate']:>14,.0f}"
        )
    print("witness CPU: all witness processes together (one round per batch, majority quorum)")


if __name__ == "__main__":
    main()
