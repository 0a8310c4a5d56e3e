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

from anima_dev.anchor import deploy_agent_anchor, relay_update
from anima_dev.local_chain import local_chain
from tests.dasync.test_recover_grpc import AGENT, TOKENS, World, world  # noqa: F401

pytestmark = pytest.mark.slow
CHAIN_ID = 31337


def _recover(
    w: World, tmp: Path, rpc: str, contract: bytes, agent: bytes, genesis: str, shares: list[int]
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
        w.b.address,
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
        refused = await asyncio.to_thread(
            _recover, w, tmp_path, chain.url, contract, agent, genesis["hash"], [0]
        )
        assert refused.returncode == 1 and "escrow needs 2" in refused.stderr
        done = await asyncio.to_thread(
            _recover, w, tmp_path, chain.url, contract, agent, genesis["hash"], [1, 2]
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["wallets"][0]["address"] == w.wallet
        assert summary["anchor"]["version"] == w.anchored.version
        assert summary["restored_parts"] == [{"kind": "memories", "items": 1}]
        assert b"Anima devstack" in next((tmp_path / "restored").iterdir()).read_bytes()
