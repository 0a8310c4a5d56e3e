"""Recovery: RPO (an acknowledged entry to durable, anchored DA) and RTO (recover
command to a restored agent) with the real parts in one process: signers on the
INSECURE simulated TEE, the local directory DA backend, AgentAnchor on anvil.

(a) RPO: a delta of one memory and one log entry sealed, published (chunks read
    back, then the manifest) and anchored on anvil (one transaction, automine):
    p50/p95 seconds over --syncs runs; the anchor update's gas.
(b) RTO: --memories memories synced in deltas of --delta, then node B recovers:
    proven anchor, manifest and every chunk verified, 2-of-3 guardian release,
    chunks opened, signer restored. Seconds and bytes on the DA layer.
    Re-embedding the memories into node B's vector store is NOT included (see
    bench/memory_bench.py for its rate).

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/recovery_bench.py [--memories N] [--delta N] [--syncs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from machine import machine  # bench/machine.py, beside this script

from anima_dasync.backends import LocalDirectoryBackend
from anima_dev.anchor import deploy_agent_anchor
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.recovery import (
    AnchorTarget,
    SyncState,
    anchor_address,
    recover_agent,
    sync_life_data,
)
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation.sim import SIM_MRTD

POLICY = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
SIGNING = SigningPolicy(allowed_chain_ids=frozenset({31337}), max_value_wei=0)


async def open_signer(path: Path) -> tuple[Signer, InsecureSimulatedTee]:
    tee = InsecureSimulatedTee(state_dir=path)
    signer = await Signer.open(tee=tee, state_dir=path, log_origin_prefix="bench.anima/agents")
    return signer, tee


def last_gas(chain: LocalChain) -> int:
    block = chain.rpc("eth_getBlockByNumber", ["latest", False])
    assert isinstance(block, dict)
    receipt = chain.rpc("eth_getTransactionReceipt", [block["transactions"][-1]])
    assert isinstance(receipt, dict)
    return int(receipt["gasUsed"], 16)


def memory(i: int) -> dict[str, object]:
    return {"table": "facts", "room": "room-1", "text": f"fact number {i}: the user likes item {i}"}


async def run(args: argparse.Namespace, root: Path, chain: LocalChain) -> None:
    genesis = chain.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    target = AnchorTarget(
        chain=chain,
        contract=deploy_agent_anchor(chain),
        trusted_checkpoint=bytes.fromhex(str(genesis["hash"])[2:]),
    )
    node_a, _ = await open_signer(root / "a")
    guardian_signers = [(await open_signer(root / f"g{i}"))[0] for i in range(3)]
    guardians = [g.guardian() for g in guardian_signers]
    agent = node_a.create_agent(agent_id="bench-agent", wallet_count=1, policy=SIGNING)
    shares = node_a.escrow_agent_root(
        "bench-agent",
        guardians=[g.public_key() for g in guardians],
        threshold=2,
        policy_json=POLICY,
    )
    backend = LocalDirectoryBackend(root=root / "da")
    state = SyncState()

    # (b) first the bulk: --memories in deltas of --delta
    started = time.perf_counter()
    for start in range(0, args.memories, args.delta):
        batch = [memory(i) for i in range(start, min(start + args.delta, args.memories))]
        sync_life_data(
            node_a,
            "bench-agent",
            backend=backend,
            state=state,
            memories=batch,
            epoch=0,
            anchor=target,
        )
    bulk_s = time.perf_counter() - started

    # (a) RPO: small deltas
    times = []
    for i in range(args.syncs):
        t0 = time.perf_counter()
        sync_life_data(
            node_a,
            "bench-agent",
            backend=backend,
            state=state,
            memories=[memory(args.memories + i)],
            epoch=0,
            anchor=target,
        )
        times.append(time.perf_counter() - t0)
    gas = last_gas(chain)
    anchor_agent = anchor_address(node_a, "bench-agent")
    node_a.close()
    da_bytes = sum(p.stat().st_size for p in (root / "da").rglob("*") if p.is_file())

    node_b, tee_b = await open_signer(root / "b")
    recovered = await recover_agent(
        node_b,
        tee_b,
        agent_id="bench-agent",
        log_verifier_key=agent.log_verifier_key,
        anchor_agent=anchor_agent,
        target=target,
        backend=backend,
        guardians=list(zip(guardians, shares, strict=True))[1:],
    )
    assert recovered.agent.wallets == agent.wallets
    assert len(recovered.memories) == args.memories + args.syncs
    node_b.close()
    for g in guardian_signers:
        g.close()

    print(machine())
    print(f"(a) RPO, one memory + one log entry sealed, published, anchored ({args.syncs} runs):")
    p50, p95 = statistics.median(times), _p95(times)
    print(f"    p50 {p50:.3f} s, p95 {p95:.3f} s, anchor update gas {gas}")
    assert state.manifest is not None
    print(
        f"(b) RTO with {len(recovered.memories):,} memories ({state.manifest.version} manifests, "
        f"{len(state.manifest.chunks)} chunks, {da_bytes / 1e6:.1f} MB on the DA backend):"
    )
    steps = "proven anchor, fetch+verify, guardians, open, restore"
    print(f"    recover ({steps}): {recovered.seconds:.2f} s")
    print(
        f"    (syncing them took {bulk_s:.1f} s; re-embedding into the vector store not included)"
    )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--delta", type=int, default=10_000)
    parser.add_argument("--syncs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, local_chain(Path(tmp) / "anvil") as chain:
        asyncio.run(run(args, Path(tmp), chain))


if __name__ == "__main__":
    main()
