"""Recovery over the wire: the same steps as bench/recovery_bench.py, but every enclave
call goes through the signer's attested gRPC API (four signer servers in this
process on loopback, INSECURE simulated TEE; no chain: the anchor state is taken
as read). Shows what the transport adds to RPO and RTO.

(a) sync: --entries new log entries and a --memory-kib memories part sealed by node
    A's enclave (SealLifeData), the manifest signed (SignLifeManifest), published:
    p50/p95 seconds over --syncs runs.
(b) recover: 2-of-3 guardians (GuardianChallenge, BeginRecovery, ReleaseShare) and
    RestoreAgent with every chunk of the --syncs manifests: seconds.

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/recovery_grpc_bench.py [--syncs N] [--entries N] [--memory-kib N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from machine import machine  # bench/machine.py, beside this script

from anima_core.auth import token_digest
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.recover import GuardianHold, recover_agent
from anima_dasync.sync import SyncState, sync_agent
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from anima_signer_api.types import LogEntryInput, SigningPolicy
from anima_verify.attestation import MeasurementPolicy
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.tlog.entry import EntryKind

TOKEN = "bench-token"
ROLES = ("admin", "runtime", "dasync", "recovery")
TRUST = MeasurementPolicy.insecure_simulated_for_development()
TERMS = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})


async def _signer(state_dir: Path) -> tuple[RunningSigner, str]:
    config = SignerConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "state_dir": state_dir,
            "tee": "sim",
            "callers": {role: token_digest(f"{TOKEN}-{role}") for role in ROLES},
        }
    )
    running = await start_signer(config)
    return running, f"127.0.0.1:{running.port}"


async def _client(address: str, role: str) -> SignerClient:
    return await SignerClient.connect_attested(
        address=address, token=f"{TOKEN}-{role}", policy=TRUST
    )


def _entry(n: int) -> LogEntryInput:
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="bench",
        payload_sha256=n.to_bytes(32, "big"),
        payload_size=n,
    )


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nodes = [await _signer(root / name) for name in ("a", "b", "g1", "g2", "g3")]
        (_, a), (_, b), *guardians = nodes
        try:
            admin, runtime, dasync = [await _client(a, r) for r in ("admin", "runtime", "dasync")]
            agent = await admin.create_agent("bench", policy=SigningPolicy())
            keys = []
            for _, address in guardians:
                async with await _client(address, "recovery") as g:
                    keys.append(await g.guardian_key())
            shares = await admin.escrow_agent_root(
                "bench", guardian_keys=keys, threshold=2, policy_json=TERMS
            )
            backend = LocalDirectoryBackend(root=root / "da")
            state, size, seconds = SyncState(), 0, []
            memories = os.urandom(args.memory_kib * 1024)
            for s in range(args.syncs):
                result = await runtime.append_log(
                    "bench", size, [_entry(s * args.entries + i) for i in range(args.entries)]
                )
                started = time.perf_counter()
                anchored = await sync_agent(
                    dasync,
                    "bench",
                    backend=backend,
                    state=state,
                    epoch=0,
                    log_entries=[e.entry for e in result.entries],
                    checkpoint=result.checkpoint,
                    parts=[("memories", memories, 1)],
                )
                seconds.append(time.perf_counter() - started)
                size = result.size
            cuts = statistics.quantiles(seconds, n=20) if len(seconds) > 1 else seconds * 19
            print(
                f"sync ({args.entries} log entries + {args.memory_kib} KiB of memories, over "
                f"gRPC): p50 {statistics.median(seconds):.3f} s, p95 {cuts[18]:.3f} s "
                f"({args.syncs} syncs)"
            )
            holds = [
                GuardianHold(client=await _client(address, "recovery"), sealed_share=share)
                for (_, address), share in zip(guardians[:2], shares[:2], strict=True)
            ]
            async with await _client(b, "recovery") as new:
                started = time.perf_counter()
                restored = await recover_agent(
                    new,
                    holds,
                    agent_id="bench",
                    log_verifier_key=agent.log_verifier_key,
                    backend=backend,
                    anchored=anchored,
                )
                took = time.perf_counter() - started
            assert restored.agent.wallets[0].address == agent.wallets[0].address
            chunks = sum(1 for _ in (root / "da" / "chunks").rglob("*") if _.is_file())
            print(
                f"recover over gRPC ({size} log entries, {chunks} chunks, "
                f"{args.syncs} x {args.memory_kib} KiB memories; 2-of-3 guardians, "
                f"RestoreAgent): {took:.3f} s"
            )
            for c in (admin, runtime, dasync, *(h.client for h in holds)):
                await c.close()
        finally:
            for running, _ in nodes:
                await running.stop(grace=0.2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--syncs", type=int, default=20)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--memory-kib", type=int, default=256)
    asyncio.run(main(parser.parse_args()))
