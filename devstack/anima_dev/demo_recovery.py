"""`anima demo` step 5: the agent survives its machine (DESIGN.md §3 step 5).

At creation the agent root is split 2-of-2 to two guardian signers (node A's signer
is configured with their keys; each share sealed to its guardian's key). After the
chat, node A's enclave seals the life data (signer state, log, memories, character),
the DA directory receives it, and the manifest is anchored on the dev chain. Node
A's signer, memory and runtime are killed with SIGKILL; node B's fresh signer (its
own root and state) is restored by `anima agent recover` in its own process: the
anchor read through proofs from the genesis hash, both guardians checking B's fresh
evidence; B's enclave signs the anchor update that bumps the recovery epoch (the
handover). Then: the same wallet, and node B's log proven an extension of the
anchored checkpoint.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.sync import SyncState, sync_agent
from anima_dev.anchor import deploy_agent_anchor, relay_update
from anima_dev.contracts import dev_account
from anima_dev.local_chain import LocalChain
from anima_dev.local_signer import LocalSigner, local_signer
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


async def sync_and_anchor(
    signer: LocalSigner,
    agent_id: str,
    *,
    entries: list[bytes],
    checkpoint: bytes,
    memories: list[dict[str, Any]],
    character: bytes,
    chain: LocalChain,
    state_dir: Path,
) -> Synced:
    """Node A's life data sealed by its enclave, published to DA, anchored on chain."""
    da_dir = state_dir / "da"
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["admin"], policy=TRUST
    ) as enclave:
        anchored = await sync_agent(
            enclave,
            agent_id,
            backend=LocalDirectoryBackend(root=da_dir),
            state=SyncState(),
            epoch=0,
            log_entries=entries,
            checkpoint=checkpoint,
            parts=[
                ("memories", json.dumps(memories).encode(), len(memories)),
                ("character", character, 1),
            ],
        )
        contract = deploy_agent_anchor(chain)
        anchor_agent, signature = await enclave.sign_anchor_update(
            agent_id, state=anchored, chain_id=chain.chain_id, contract=contract
        )
    relay_update(chain, contract, anchor_agent, anchored, signature)
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


def start_node_b(
    stack: contextlib.ExitStack, state_dir: Path, synced: Synced, chain: LocalChain
) -> LocalSigner:
    """A fresh signer that reads the agent's anchor itself: blocks from genesis, a proof."""
    trusted = _genesis_hash(chain)
    anchor_args = (
        *("--anchor-contract", "0x" + synced.contract.hex()),
        *("--anchor-trusted-block", trusted),
    )
    node_b = stack.enter_context(
        local_signer(state_dir / "node-b", callers=RECOVERY_CALLERS, extra_args=anchor_args)
    )
    _say(
        "node B",
        f"{node_b.address}: a fresh signer with its own root and state; it trusts only "
        f"block 0 {trusted[:18]}... for the anchor",
    )
    return node_b


def _genesis_hash(chain: LocalChain) -> str:
    genesis = chain.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    return str(genesis["hash"])


def recover(
    node_b: LocalSigner,
    guardians: Sequence[LocalSigner],
    shares: Sequence[Path],
    agent: dict[str, Any],
    synced: Synced,
    chain: LocalChain,
    state_dir: Path,
) -> dict[str, Any]:
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
        *("--signer", node_b.address, "--out", str(state_dir / "restored")),
        # Then the handover: node B's enclave signs the epoch bump, a dev account relays it.
        *("--relay-from", dev_account(chain, 1)),
        *("--insecure-allow-simulated", "--json"),
    ]
    env = {
        **os.environ,
        "ANIMA_SIGNER_TOKEN": node_b.tokens["recovery"],
        "ANIMA_DASYNC_TOKEN": node_b.tokens["dasync"],
        "ANIMA_GUARDIAN_TOKEN": guardians[0].tokens["recovery"],  # the same on both
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
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


async def verify_restored_log(
    node_b: LocalSigner, agent: dict[str, Any], synced: Synced, state_dir: Path
) -> None:
    """Node B's log, signed by the same log key, extends the anchored checkpoint."""
    verifier = parse_verifier_key(agent["log_verifier_key"])
    async with await SignerClient.connect_attested(
        address=node_b.address, token=node_b.tokens["runtime"], policy=TRUST
    ) as runtime:
        tail = await runtime.append_log(agent["agent_id"], len(synced.entries), [])
    anchored = open_checkpoint(synced.checkpoint, [verifier]).checkpoint
    latest = open_checkpoint(tail.checkpoint, [verifier]).checkpoint
    entries = [*synced.entries, *(e.entry for e in tail.entries)]
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


def show_restored_memories(state_dir: Path, fact: str) -> None:
    """What node B's enclave opened for the memory service to import."""
    [path] = sorted((state_dir / "restored").glob("*.memories"))
    memories = json.loads(path.read_bytes())
    holding = sum(fact in json.dumps(m) for m in memories)
    if not holding:
        raise RuntimeError(f"no restored memory holds {fact!r}")
    _say(
        "restored memories",
        f"{len(memories)} opened by node B's enclave from the DA chunks; {holding} hold {fact!r}",
    )


def entries_from(api_entries: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(e["entry"]) for e in api_entries["entries"]]
