"""RTO end to end: `anima agent recover` to the agent's first answer on node B.

Node A (signer, memory service, runtime as processes, INSECURE simulated TEE) hosts
an agent that learned "I live in Lisbon" in chat and holds --memories more memories
(random unit vectors: no embedding); its life data (the memory service's export,
the runtime's record, the log) is sealed by its enclave, published to the DA
directory and anchored on anvil; node A is killed. Node B's signer, memory service
and runtime are started (standing by), then the clock runs from the recover
command (anchor proven from genesis, 2 guardians, the signer restore verifying
every chunk, the memory import, the runtime taking the agent over) to the answer
to "Where do I live?" through node B's chat API.

Prints figures and the machine they ran on; not a pass/fail test. Wall-clock
figures on a shared machine are noisy.
Usage: python bench/recovery_node_bench.py [--memories N] [--export-batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from machine import machine  # bench/machine.py, beside this script

from anima_dev import demo_recovery
from anima_dev.local_chain import local_chain
from anima_dev.local_memory import local_memory
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import local_signer
from anima_memory_api.client import MemoryClient
from anima_memory_api.types import DIMENSION, MemoryDraft

ADA = Path(__file__).resolve().parents[1] / "examples" / "characters" / "ada.character.json"
ROOM, USER = "home", "sam"
# The whole life data travels in one RestoreAgent (and its answer).
MESSAGE_BYTES = 1 << 30
BIG_MESSAGES = {"ANIMA_SIGNER_MAX_MESSAGE_BYTES": str(MESSAGE_BYTES)}


async def _fill(memory_address: str, token: str, cert: bytes, agent_id: str, n: int) -> None:
    rng = np.random.default_rng(7)
    # Setup, not measured: a generous deadline, since the shared machine's load varies.
    client = MemoryClient.connect(memory_address, token, certificate_pem=cert, timeout_s=600)
    async with client:
        for start in range(0, n, 1_000):
            vectors = rng.standard_normal((min(1_000, n - start), DIMENSION)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            await client.create(
                [
                    MemoryDraft(
                        agent_id=agent_id,
                        entity_id="user-2",
                        room_id="archive",
                        table="documents",
                        text=f"document {start + i}: item {start + i} of the archive",
                        vector=v.tolist(),
                    )
                    for i, v in enumerate(vectors)
                ]
            )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run(n: int, tmp: Path, export_batch: int) -> None:
    with contextlib.ExitStack() as stack:
        chain = stack.enter_context(local_chain(tmp / "anvil"))
        guardians = demo_recovery.start_guardians(stack, tmp)
        node_a = contextlib.ExitStack()
        # Escrow at creation: node A's signer splits the agent root to the guardians.
        escrow = await demo_recovery.escrow_env(guardians)
        signer = node_a.enter_context(local_signer(tmp / "a", env={**BIG_MESSAGES, **escrow}))
        memory = node_a.enter_context(local_memory(tmp / "a", admin_token="bench-memory-admin"))
        runtime = node_a.enter_context(
            local_runtime(tmp / "a", signer=signer, memory=memory, admin=True)
        )
        async with runtime.grpc_client() as api:
            view = await api.create_agent(json.loads(ADA.read_text()))
            agent_id = view.agent_id
            shares = await demo_recovery.escrow(signer, agent_id, guardians, tmp / "escrow")
            await api.send_message(
                agent_id,
                room_id=ROOM,
                text="Hi! My name is Sam and I live in Lisbon.",
                entity_id=USER,
                user_name="Sam",
            )
        t0 = time.perf_counter()
        await _fill(memory.address, memory.token, memory.certificate_pem, agent_id, n)
        t_fill = time.perf_counter() - t0
        async with httpx.AsyncClient(base_url=runtime.url) as http:
            note = (await http.get(f"/v1/logs/{agent_id}/checkpoint")).content
            size = int(note.split(b"\n")[1])
            page = await http.get(f"/v1/logs/{agent_id}/entries", params={"end": size})
        t0 = time.perf_counter()
        parts = await demo_recovery.life_parts(memory, runtime, agent_id, batch_size=export_batch)
        synced = await demo_recovery.sync_and_anchor(
            signer,
            agent_id,
            entries=demo_recovery.entries_from(page.json()),
            checkpoint=note,
            parts=parts,
            chain=chain,
            state_dir=tmp,
            max_message_bytes=MESSAGE_BYTES,
        )
        t_sync = time.perf_counter() - t0
        demo_recovery.kill_node(signer.process, memory.process, runtime.process)
        node_a.close()
        t0 = time.perf_counter()
        signer_b = stack.enter_context(
            demo_recovery.node_b_signer(tmp, synced, chain, env=BIG_MESSAGES)
        )
        memory_b, runtime_b = demo_recovery.start_node_b_host(stack, tmp, signer_b)
        node_b = demo_recovery.NodeB(signer_b, memory_b, runtime_b)
        t_start_b = time.perf_counter() - t0
        agent = {
            "agent_id": agent_id,
            "log_verifier_key": view.log_verifier_key,
            "wallets": list(view.wallets),
        }
        command, env = demo_recovery.recover_command(
            node_b, guardians, shares, agent, synced, chain, tmp
        )
        command += ["--max-message-mib", str(MESSAGE_BYTES >> 20)]
        pids = {
            "node B signer": signer_b.process.pid,
            "node B memory service": memory_b.process.pid,
            "node B runtime": runtime_b.process.pid,
            **{f"guardian {k}": g.process.pid for k, g in enumerate(guardians, 1)},
        }
        cpu_before = {name: _cpu_s(pid) for name, pid in pids.items()}
        cli_before = _children_cpu_s()
        t0 = time.perf_counter()
        done = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, env=env, check=False
        )
        t_recover = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        answer = await demo_recovery.ask_node_b(
            node_b, agent_id, room=ROOM, user=USER, text="Where do I live?"
        )
        rto = time.perf_counter() - t0
        cpu = {name: _cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["anima agent recover (its process)"] = _children_cpu_s() - cli_before
    summary = json.loads(done.stdout)
    node = summary["node"]
    memories_parts = [p for p in parts if p[0] == "memories"]
    print(machine())
    print(
        f"{n:,} + {node['memories']['imported'] - n} memories "
        f"(export batches of {export_batch or 256}), "
        f"{len(memories_parts)} memories parts, "
        f"{sum(len(p[1]) for p in memories_parts) / 1e6:.1f} MB of export"
    )
    print(f"  fill node A's memory service (vectors given)    {t_fill:7.2f} s")
    print(f"  node A: export + record + seal + publish + anchor {t_sync:7.2f} s")
    print(f"  start node B's signer, memory service, runtime   {t_start_b:7.2f} s  (standby)")
    print(f"  recover command, in all                          {t_recover:7.2f} s")
    print(f"    anchor + guardians + signer restore            {summary['signer_seconds']:7.2f} s")
    print(
        f"    memory import into node B                      {node['memories']['seconds']:7.2f} s"
    )
    print(f"    runtime takes the agent over                   {node['runtime']['seconds']:7.2f} s")
    print(f"  RTO: recover command -> first answer on node B   {rto:7.2f} s  (target <= 30 s)")
    print(f"  the answer: {answer!r}")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    print("  CPU seconds, recover command -> first answer (less disturbed by load):")
    for name, seconds in cpu.items():
        print(f"    {name:40s} {seconds:7.2f} s")
    print(f"    {'all':40s} {sum(cpu.values()):7.2f} s")
    if "Lisbon" not in answer:
        raise RuntimeError("the agent on node B did not answer from its memories")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument(
        "--export-batch", type=int, default=1000, help="memories per export batch (0: 256)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.memories, Path(tmp), args.export_batch))


if __name__ == "__main__":
    main()
