"""`anima agent recover` in its own process: the anchor on anvil (read through proofs
from the genesis hash), the DA directory, two of three guardians, a new signer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anima_dev.anchor import (
    deploy_agent_anchor,
    read_anchor_proof,
    relay_update,
    verified_blocks,
)
from anima_dev.local_chain import LocalChain, local_chain
from anima_signer_api.errors import UnknownAgent
from anima_verify.errors import AnimaError
from anima_verify.lifedata import parse_signed_manifest
from tests.dasync.test_recover_grpc import AGENT, TOKENS, Node, World, _start, world  # noqa: F401

pytestmark = pytest.mark.slow
CHAIN_ID = 31337


def _recover(
    w: World,
    node: Node,
    tmp: Path,
    rpc: str,
    contract: bytes,
    agent: bytes,
    genesis: str,
    shares: list[int],
) -> subprocess.CompletedProcess[str]:
    specs = []
    for i in shares:
        (tmp / f"share{i}").write_bytes(w.shares[i])
        specs += ["--guardian", f"{w.guardians[i].address}={tmp / f'share{i}'}"]
    env = {
        **os.environ,
        "ANIMA_SIGNER_TOKEN": TOKENS["recovery"],
        "ANIMA_GUARDIAN_TOKEN": TOKENS["recovery"],
    }
    command = [
        sys.executable,
        "-m",
        "anima_dev.cli",
        "agent",
        "recover",
        AGENT,
        "--da",
        str(tmp / "da"),
        "--rpc",
        rpc,
        "--anchor",
        "0x" + contract.hex(),
        "--anchor-agent",
        "0x" + agent.hex(),
        "--trusted-block",
        genesis,
        "--log-key",
        w.log_verifier_key,
        *specs,
        "--out",
        str(tmp / "restored"),
        "--signer",
        node.address,
        "--insecure-allow-simulated",
        "--json",
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


async def test_anima_agent_recover_restores_from_the_anchored_state(
    world: World,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    w = world
    with local_chain(tmp_path / "anvil", chain_id=CHAIN_ID) as chain:
        genesis = chain.rpc("eth_getBlockByNumber", ["0x0", False])
        assert isinstance(genesis, dict)
        contract = deploy_agent_anchor(chain)
        async with await w.a.client("dasync") as dasync:
            agent, signature = await dasync.sign_anchor_update(
                AGENT, state=w.anchored, chain_id=CHAIN_ID, contract=contract
            )
        relay_update(chain, contract, agent, w.anchored, signature)
        # Node C reads the anchor itself: from genesis on, through the storage proof.
        node_c = await _start(
            tmp_path / "c",
            anchor_contract="0x" + contract.hex(),
            anchor_trusted_block=genesis["hash"],
        )
        try:
            await _restore_refuses_unproven_anchors(
                w, node_c, chain, contract, agent, genesis["hash"]
            )
            refused = await asyncio.to_thread(
                _recover, w, node_c, tmp_path, chain.url, contract, agent, genesis["hash"], [0]
            )
            assert refused.returncode == 1 and "escrow needs 2" in refused.stderr
            done = await asyncio.to_thread(
                _recover, w, node_c, tmp_path, chain.url, contract, agent, genesis["hash"], [1, 2]
            )
        finally:
            await node_c.running.stop(grace=0.2)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["wallets"][0]["address"] == w.wallet
        assert summary["anchor"]["version"] == w.anchored.version
        assert summary["restored_parts"] == [
            {"kind": "memories", "items": 1},
            {"kind": "log", "items": w.log_size},
        ]
        assert b"Anima devstack" in (tmp_path / "restored" / "0000.memories").read_bytes()
        assert (tmp_path / "restored" / "0000.memories").stat().st_mode & 0o077 == 0


async def _restore_refuses_unproven_anchors(
    w: World, node: Node, chain: LocalChain, contract: bytes, agent: bytes, genesis: str
) -> None:
    """A signer with an anchor configured takes no anchor on the caller's word, and no
    block chain that does not start at its trusted block; nothing is restored."""
    head, blocks = verified_blocks(chain, bytes.fromhex(genesis[2:]))
    _, proof = read_anchor_proof(chain, contract, agent, head)
    signed = w.backend.get_manifest(AGENT, w.anchored.version)
    refs = parse_signed_manifest(signed).manifest.chunks
    chunks = [(ref, w.backend.get_chunk(ref.chunk_id)) for ref in refs]
    wire = [json.dumps(b).encode() for b in blocks]
    attacks: list[tuple[tuple[bytes, list[bytes], bytes] | None, str | None]] = [
        (None, "proven anchor"),
        ((agent, wire[1:], json.dumps(proof).encode()), None),  # not from the trusted block
        ((bytes(20), wire, json.dumps(proof).encode()), None),  # another slot's proof
    ]
    async with await node.client("recovery") as new, await node.client("admin") as admin:
        await new.begin_recovery(AGENT, nonces=[bytes(32)])
        for anchor_proof, says in attacks:
            with pytest.raises(AnimaError, match=says):
                await new.restore_agent(
                    AGENT,
                    log_verifier_key=w.log_verifier_key,
                    signed_manifest=signed,
                    chunks=chunks,
                    released_shares=[],
                    anchor=w.anchored,  # the caller's word: ignored here
                    anchor_proof=anchor_proof,
                )
            with pytest.raises(UnknownAgent):
                await admin.get_agent(AGENT)
