"""Peer migration over the wire: a live agent moves from signer A to signer B through
their attested gRPC APIs (two signer servers in this process on loopback, INSECURE
simulated TEE), with a realistic signer state:

- --entries host log entries (stored by A's host), then --signatures signatures with
  idempotency keys whose entries A's host has not collected (they travel as the tail);
- the agent's measurement policy recorded by an escrow.

Per run (a fresh agent each): MigrationChallenge on B, ExportAgent on A (evidence
checked, handover logged, state sealed), ImportAgent on B (opened, checked,
installed). Prints p50/p95 wall seconds of the three calls together and each, the
process CPU seconds they took (less disturbed by other load on a shared machine),
and the envelope's size. Not a pass/fail test.

Usage: python bench/migration_bench.py [--runs N] [--entries N] [--signatures N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from machine import machine  # bench/machine.py, beside this script

from anima_core.auth import token_digest
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from anima_signer_api.types import LogEntryInput, PersonalMessage, SigningPolicy, SignRequest
from anima_verify.attestation import MeasurementPolicy
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.escrow.share import public_bytes
from anima_verify.tlog.entry import EntryKind

TOKEN = "bench-token"
ROLES = ("admin", "runtime", "recovery")
TRUST = MeasurementPolicy.insecure_simulated_for_development()
TERMS = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
SIGNING = SigningPolicy(allowed_chain_ids=frozenset({31337}), allow_personal_messages=True)
APPEND_CHUNK = 500  # entries per AppendLog
SIGN_CHUNK = 100  # requests per SignBatch


async def _signer(state_dir: Path) -> tuple[RunningSigner, str]:
    config = SignerConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "state_dir": state_dir,
            "tee": "sim",
            "callers": {role: token_digest(f"{TOKEN}-{role}") for role in ROLES},
            "log_origin_prefix": "bench.anima/agents",
        }
    )
    running = await start_signer(config)
    return running, f"127.0.0.1:{running.port}"


async def _client(address: str, role: str) -> SignerClient:
    return await SignerClient.connect_attested(
        address=address, token=f"{TOKEN}-{role}", policy=TRUST
    )


async def _live_agent(
    a: SignerClient, runtime: SignerClient, agent_id: str, *, entries: int, signatures: int
) -> str:
    """The agent's log key, once its state is built on A (`runtime`: A's runtime caller)."""
    agent = await a.create_agent(agent_id, policy=SIGNING)
    guardian = public_bytes(X25519PrivateKey.generate().public_key())
    await a.escrow_agent_root(agent_id, guardian_keys=[guardian], threshold=1, policy_json=TERMS)
    host_size = 0
    for start in range(0, entries, APPEND_CHUNK):
        batch = [
            LogEntryInput(
                kind=EntryKind.MESSAGE_IN,
                actor="user",
                room="bench",
                payload_sha256=(i % 256).to_bytes(1, "big") * 32,
                payload_size=i,
            )
            for i in range(start, min(start + APPEND_CHUNK, entries))
        ]
        result = await runtime.append_log(agent_id, host_size, batch)
        host_size = result.size
    for start in range(0, signatures, SIGN_CHUNK):
        await runtime.sign_batch(
            SignRequest(agent_id, PersonalMessage(f"m{i}".encode()), idempotency_key=f"k{i}")
            for i in range(start, min(start + SIGN_CHUNK, signatures))
        )
    return agent.log_verifier_key


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(f"state: {args.entries} stored log entries, {args.signatures} keyed signatures (tail)")
    with tempfile.TemporaryDirectory() as tmp:
        (a_run, a_addr), (b_run, b_addr) = [await _signer(Path(tmp) / n) for n in ("a", "b")]
        try:
            async with (
                await _client(a_addr, "admin") as a,
                await _client(a_addr, "runtime") as runtime,
                await _client(b_addr, "recovery") as b,
            ):
                walls: dict[str, list[float]] = {"total": [], "challenge": [], "export": []}
                walls["import"] = []
                cpus: list[float] = []
                sizes: list[int] = []
                for run in range(args.runs):
                    agent_id = f"agent-{run}"
                    log_key = await _live_agent(
                        a, runtime, agent_id, entries=args.entries, signatures=args.signatures
                    )
                    cpu0, t0 = time.process_time(), time.perf_counter()
                    offer = await b.migration_challenge(agent_id)
                    t1 = time.perf_counter()
                    envelope, _ = await a.export_agent(
                        agent_id,
                        challenge=offer.challenge,
                        recipient=offer.recipient,
                        evidence=offer.evidence,
                    )
                    t2 = time.perf_counter()
                    await b.import_agent(agent_id, log_verifier_key=log_key, envelope=envelope)
                    t3, cpu1 = time.perf_counter(), time.process_time()
                    for name, value in (
                        ("total", t3 - t0),
                        ("challenge", t1 - t0),
                        ("export", t2 - t1),
                        ("import", t3 - t2),
                    ):
                        walls[name].append(value)
                    cpus.append(cpu1 - cpu0)
                    sizes.append(len(envelope))
        finally:
            await a_run.stop(grace=0.2)
            await b_run.stop(grace=0.2)
    for name, values in walls.items():
        print(f"{name:>9}: p50 {_p(values, 50):.3f} s  p95 {_p(values, 95):.3f} s  (wall)")
    print(f"      cpu: p50 {_p(cpus, 50):.3f} s  p95 {_p(cpus, 95):.3f} s  (both signers, process)")
    print(f" envelope: {statistics.median(sizes) / 1024:.0f} KiB")


def _p(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--signatures", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
