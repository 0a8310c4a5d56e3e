"""`anima demo` step 5: the agent survives its machine (DESIGN.md §3 step 5).

At creation the agent root is split 2-of-2 to two guardian signers (node A's signer
is configured with their keys; each share sealed to its guardian's key). After the
chat, one round of da-sync's syncer has node A's enclave seal the life data (signer
state, log, the memory service's export, the runtime's record of the agent with its
character), the DA directory receives it, and the manifest is anchored on the dev
chain. Node A's signer, memory
and runtime are killed with SIGKILL; node B (a fresh signer with its own root, a
memory service and a runtime) takes the agent over through `anima agent recover` in
its own process: the anchor read through proofs from the genesis hash, both
guardians checking B's fresh evidence; B's enclave signs the anchor update that
bumps the recovery epoch (the handover); B's memory service imports the memories
and B's runtime hosts the agent. Then: the same wallet, node B's log proven an
extension of the anchored checkpoint, and the agent answers on node B from its
restored memories.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.log_source import LogSnapshot
from anima_dasync.memory_source import EXPORT_BATCH, MAX_PART_BYTES, GrpcMemories
from anima_dasync.runtime_source import GrpcRuntime
from anima_dasync.sync import SEAL_REQUEST_BYTES
from anima_dasync.syncer import AnchorTarget, Syncer
from anima_dev.anchor import deploy_agent_anchor, relay_update
from anima_dev.contracts import dev_account
from anima_dev.local_chain import LocalChain
from anima_dev.local_memory import LocalMemory, local_memory
from anima_dev.local_runtime import LocalRuntime, local_runtime
from anima_dev.local_signer import LocalSigner, local_signer
from anima_memory_api.client import MemoryClient
from anima_memory_api.router import ShardedMemoryClient
from anima_signer_api.client import SignerClient
from anima_verify.attestation import MeasurementPolicy
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.lifedata import AnchorState
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.merkle import (
    consistency_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
)
from anima_verify.tlog.note import parse_verifier_key

TRUST = MeasurementPolicy.insecure_simulated_for_development()
# The terms a guardian holds the share under: the recovering enclave's measurements.
# INSECURE (simulated evidence accepted), as the whole demo stack is.
GUARDIAN_TERMS = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
RECOVERY_CALLERS = ("admin", "runtime", "recovery", "dasync")


def _say(step: str, text: str = "") -> None:
    print(f"[{step}] {text}" if text else f"\n== {step}", flush=True)


def start_guardians(stack: contextlib.ExitStack, state_dir: Path) -> list[LocalSigner]:
    """Two guardian signers; the recovering operator's caller token is the same on both."""
    tokens = {"recovery": secrets.token_urlsafe(32)}
    return [
        stack.enter_context(local_signer(state_dir / f"guardian-{n}", tokens=tokens))
        for n in (1, 2)
    ]


async def escrow_env(guardians: Sequence[LocalSigner]) -> dict[str, str]:
    """Node A's signer configuration naming the guardians (their keys read over attested
    channels): it splits every agent root 2-of-2 to them when it creates the agent."""
    keys = []
    for guardian in guardians:
        async with await SignerClient.connect_attested(
            address=guardian.address, token=guardian.tokens["recovery"], policy=TRUST
        ) as client:
            keys.append((await client.guardian_key()).hex())
    settings = {"guardian_keys": keys, "threshold": 2, "measurement_policy": GUARDIAN_TERMS}
    return {"ANIMA_SIGNER_ESCROW": json.dumps(settings)}


async def escrow(
    signer: LocalSigner, agent_id: str, guardians: Sequence[LocalSigner], out: Path
) -> list[Path]:
    """The shares the signer made when it created the agent (CreateAgent escrows to the
    configured guardians in the same transaction), to files: only each share's guardian
    enclave can open it."""
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["admin"], policy=TRUST
    ) as admin:
        threshold, shares = await admin.get_escrow(agent_id)
    if (threshold, len(shares)) != (2, len(guardians)):
        raise RuntimeError(f"the agent was created without its 2-of-{len(guardians)} escrow")
    files = _write_shares(out, agent_id, shares)
    _say(
        "escrow",
        "at creation, in the enclave: the agent root split 2-of-2 to the two guardian "
        "enclaves, each share sealed to one",
    )
    return files


def _write_shares(out: Path, agent_id: str, shares: Sequence[bytes]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for n, share in enumerate(shares, 1):
        files.append(out / f"{agent_id}.guardian-{n}.share")
        files[-1].write_bytes(share)
    return files


@dataclass
class Synced:
    anchored: AnchorState
    contract: bytes
    anchor_agent: bytes
    entries: list[bytes]
    checkpoint: bytes
    da_dir: Path


class _FixedLog:
    """The log as node A's runtime served it (a LogReader for da-sync's Syncer)."""

    def __init__(self, entries: list[bytes], checkpoint: bytes) -> None:
        self._entries, self._checkpoint = entries, checkpoint

    async def read(self, agent_id: str, start: int) -> LogSnapshot:
        return LogSnapshot(self._checkpoint, len(self._entries), self._entries[start:])


def dasync_sources(
    memory: LocalMemory,
    runtime: LocalRuntime,
    *,
    part_bytes: int = MAX_PART_BYTES,
    export_batch: int = EXPORT_BATCH,
) -> tuple[GrpcMemories, GrpcRuntime]:
    """What da-sync reads of node A's host services, as its config would name them: the
    memory service's export (vectors included) and the runtime's admin ExportAgent
    (the record: character with its secrets). The enclave seals both before they
    leave the host."""
    assert memory.admin_token is not None and runtime.admin_token is not None
    memories = MemoryClient.connect(
        memory.address, memory.admin_token, certificate_pem=memory.certificate_pem
    )
    return (
        GrpcMemories(
            ShardedMemoryClient([memories]), part_bytes=part_bytes, export_batch=export_batch
        ),
        GrpcRuntime(runtime.grpc_client_as(runtime.admin_token)),
    )


async def sync_and_anchor(
    signer: LocalSigner,
    agent_id: str,
    *,
    entries: list[bytes],
    checkpoint: bytes,
    memory: LocalMemory,
    runtime: LocalRuntime,
    chain: LocalChain,
    state_dir: Path,
    max_message_bytes: int = 64 << 20,
    part_bytes: int = MAX_PART_BYTES,
    export_batch: int = EXPORT_BATCH,
    seal_request_bytes: int = SEAL_REQUEST_BYTES,
) -> Synced:
    """One round of da-sync (anima_dasync.syncer.Syncer) for node A: its enclave seals
    the life data (log, signer state, memories, runtime record), the DA directory gets
    it, and the enclave-signed update is relayed to AgentAnchor on chain."""
    da_dir = state_dir / "da"
    contract = deploy_agent_anchor(chain)
    memories, records = dasync_sources(
        memory, runtime, part_bytes=part_bytes, export_batch=export_batch
    )
    async with await SignerClient.connect_attested(
        address=signer.address,
        token=signer.tokens["admin"],
        policy=TRUST,
        max_message_bytes=max_message_bytes,
        timeout=300,
    ) as enclave:
        syncer = Syncer(
            signer=enclave,
            backend=LocalDirectoryBackend(root=da_dir),
            logs=_FixedLog(entries, checkpoint),
            anchor=AnchorTarget(chain_id=chain.chain_id, contract=contract),
            memories=memories,
            runtime=records,
            seal_request_bytes=seal_request_bytes,
        )
        try:
            outcome = await syncer.sync(agent_id)
        finally:
            await memories.close()
            await records.close()
    assert outcome.signed_update is not None
    anchored, (anchor_agent, v, r, s) = outcome.anchored, outcome.signed_update
    relay_update(chain, contract, anchor_agent, anchored, (v, r, s))
    _say(
        "sync",
        f"manifest v{anchored.version}: life data sealed in the enclave, published to "
        f"{da_dir.name}/, anchored in AgentAnchor 0x{contract.hex()[:10]}... "
        f"(log size {anchored.checkpoint_size})",
    )
    return Synced(anchored, contract, anchor_agent, entries, checkpoint, da_dir)


def kill_node(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.kill()
        process.wait()
    _say(
        "kill -9",
        f"node A's signer, memory and runtime are gone (pids {[p.pid for p in processes]})",
    )


@dataclass
class NodeB:
    signer: LocalSigner
    memory: LocalMemory
    runtime: LocalRuntime


def start_node_b(
    stack: contextlib.ExitStack, state_dir: Path, synced: Synced, chain: LocalChain
) -> NodeB:
    """A fresh signer that reads the agent's anchor itself (blocks from genesis, a proof),
    and a memory service and runtime in front of it, as empty as the signer."""
    trusted = _genesis_hash(chain)
    signer = stack.enter_context(node_b_signer(state_dir, synced, chain))
    memory, runtime = start_node_b_host(stack, state_dir, signer)
    _say(
        "node B",
        f"signer {signer.address}: a fresh one with its own root and state, trusting only "
        f"block 0 {trusted[:18]}... for the anchor; memory {memory.address} and runtime "
        f"{runtime.url}, empty",
    )
    return NodeB(signer, memory, runtime)


def node_b_signer(
    state_dir: Path, synced: Synced, chain: LocalChain, env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[LocalSigner]:
    """Node B's signer: its own root and state; it reads the anchor from genesis on."""
    anchor_args = (
        *("--anchor-contract", "0x" + synced.contract.hex()),
        *("--anchor-trusted-block", _genesis_hash(chain)),
    )
    return local_signer(
        state_dir / "node-b", callers=RECOVERY_CALLERS, extra_args=anchor_args, env=env
    )


def start_node_b_host(
    stack: contextlib.ExitStack,
    state_dir: Path,
    signer: LocalSigner,
    memory_env: dict[str, str] | None = None,
) -> tuple[LocalMemory, LocalRuntime]:
    """Node B's memory service (admin token: the recovery imports) and runtime (admin
    token: RestoreAgent); `memory_env` configures the memory service."""
    host = state_dir / "node-b-host"
    host.mkdir(parents=True, exist_ok=True)
    memory = stack.enter_context(
        local_memory(host, admin_token=secrets.token_urlsafe(32), env=memory_env)
    )
    runtime = stack.enter_context(local_runtime(host, signer=signer, memory=memory, admin=True))
    return memory, runtime


def _genesis_hash(chain: LocalChain) -> str:
    genesis = chain.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    return str(genesis["hash"])


def recover_command(
    node_b: NodeB,
    guardians: Sequence[LocalSigner],
    shares: Sequence[Path],
    agent: dict[str, Any],
    synced: Synced,
    chain: LocalChain,
    state_dir: Path,
) -> tuple[list[str], dict[str, str]]:
    """`anima agent recover` for node B (signer, memory service, runtime), and its env."""
    host = state_dir / "node-b-host"
    (host / "memory.pem").write_bytes(node_b.memory.certificate_pem)
    (host / "runtime.pem").write_bytes(node_b.runtime.grpc_certificate_pem)
    command = [
        *(sys.executable, "-m", "anima_dev.cli", "agent", "recover", agent["agent_id"]),
        *("--da", str(synced.da_dir), "--rpc", chain.url),
        *(
            "--anchor",
            "0x" + synced.contract.hex(),
            "--anchor-agent",
            "0x" + synced.anchor_agent.hex(),
        ),
        *("--trusted-block", _genesis_hash(chain), "--log-key", agent["log_verifier_key"]),
        *(
            a
            for g, s in zip(guardians, shares, strict=True)
            for a in ("--guardian", f"{g.address}={s}")
        ),
        *("--signer", node_b.signer.address, "--out", str(state_dir / "restored")),
        *("--memory", node_b.memory.address, "--memory-cert", str(host / "memory.pem")),
        *("--runtime", node_b.runtime.grpc_address, "--runtime-cert", str(host / "runtime.pem")),
        # Then the handover: node B's enclave signs the epoch bump, a dev account relays it.
        *("--relay-from", dev_account(chain, 1)),
        *("--insecure-allow-simulated", "--json"),
    ]
    assert node_b.memory.admin_token is not None and node_b.runtime.admin_token is not None
    env = {
        **os.environ,
        "ANIMA_SIGNER_TOKEN": node_b.signer.tokens["recovery"],
        "ANIMA_DASYNC_TOKEN": node_b.signer.tokens["dasync"],
        "ANIMA_GUARDIAN_TOKEN": guardians[0].tokens["recovery"],  # the same on both
        "ANIMA_MEMORY_TOKEN": node_b.memory.admin_token,
        "ANIMA_RUNTIME_ADMIN_TOKEN": node_b.runtime.admin_token,
    }
    return command, env


def recover(
    node_b: NodeB,
    guardians: Sequence[LocalSigner],
    shares: Sequence[Path],
    agent: dict[str, Any],
    synced: Synced,
    chain: LocalChain,
    state_dir: Path,
) -> dict[str, Any]:
    command, env = recover_command(node_b, guardians, shares, agent, synced, chain, state_dir)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"anima agent recover failed: {done.stderr or done.stdout}")
    summary: dict[str, Any] = json.loads(done.stdout)
    wallet = summary["wallets"][0]["address"]
    _say(
        "anima agent recover",
        f"anchor v{summary['anchor']['version']} proven from genesis at block "
        f"{summary['anchor']['verified_block']} (by B's enclave too); 2 guardians released "
        f"their shares to B's attested enclave; wallet {wallet} same as node A's: "
        f"{wallet == agent['wallets'][0]}",
    )
    node = summary["node"]
    _say(
        "node B takes over",
        f"memory service imported {node['memories'].get('imported')} memories (verified "
        f"export, all or nothing); runtime: agent {node['runtime']['agent']}, running "
        f"{node['runtime']['running']} ({seconds:.1f} s for the whole recovery)",
    )
    if wallet != agent["wallets"][0]:
        raise RuntimeError("the recovered agent has another wallet")
    handover = summary["handover"]
    _say(
        "handover",
        f"anchor v{handover['version']} at recovery epoch {handover['epoch']} (was "
        f"{summary['anchor']['epoch']}), signed by node B's enclave, relayed in "
        f"{handover['transaction'][:18]}...: an enclave still holding epoch "
        f"{summary['anchor']['epoch']} that reads the anchor stops signing (AGENT_FENCED_HERE)",
    )
    return summary


class _Leaves:
    """Subtree hashes over known leaves (a HashReader for consistency_proof)."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self._leaves = [leaf_hash(e) for e in entries]

    def node(self, level: int, index: int) -> bytes:
        return root_from_leaf_hashes(self._leaves[index << level : (index + 1) << level])


async def verify_restored_log(node_b: NodeB, agent: dict[str, Any], synced: Synced) -> None:
    """Node B's log as its runtime serves it (the public log API), signed by the same log
    key, extends the anchored checkpoint; its first entries are node A's."""
    verifier = parse_verifier_key(agent["log_verifier_key"])
    agent_id = agent["agent_id"]
    async with httpx.AsyncClient(base_url=node_b.runtime.url, timeout=60) as http:
        note = (await http.get(f"/v1/logs/{agent_id}/checkpoint")).raise_for_status().content
        latest = open_checkpoint(note, [verifier]).checkpoint
        page = (
            await http.get(f"/v1/logs/{agent_id}/entries", params={"start": 0, "end": latest.size})
        ).raise_for_status()
    entries = entries_from(page.json())
    if entries[: len(synced.entries)] != synced.entries:
        raise RuntimeError("node B's runtime serves another log than node A's")
    anchored = open_checkpoint(synced.checkpoint, [verifier]).checkpoint
    proof = consistency_proof(_Leaves(entries), anchored.size, latest.size)
    verify_consistency(
        size1=anchored.size,
        size2=latest.size,
        root1=anchored.root_hash,
        root2=latest.root_hash,
        proof=proof,
    )
    if anchored.root_hash != synced.anchored.checkpoint_root:
        raise RuntimeError("the synced checkpoint is not the anchored one")
    _say(
        "restored log",
        f"anchored checkpoint {anchored.size} -> node B's {latest.size} (+ the handover entry), "
        f"same log key, consistent: True ({len(proof)} proof hashes)",
    )


async def ask_node_b(node_b: NodeB, agent_id: str, *, room: str, user: str, text: str) -> str:
    """One turn on node B's runtime through its chat API (as on node A): the answer."""
    headers = {"Authorization": f"Bearer {node_b.runtime.api_token}"}
    async with httpx.AsyncClient(base_url=node_b.runtime.url, timeout=120) as http:
        response = await http.post(
            f"/v1/agents/{agent_id}/messages",
            headers=headers,
            json={"room_id": room, "entity_id": user, "user_name": "Sam", "text": text},
        )
    turn = response.raise_for_status().json()
    answer = " ".join(r["text"] for r in turn["responses"])
    _say("you -> node B", f"{text}  (log #{turn['message_log_index']} on node B)")
    _say("agent on node B", answer)
    return answer


def entries_from(api_entries: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(e["entry"]) for e in api_entries["entries"]]
