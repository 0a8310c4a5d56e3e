"""Fencing on chain after an out-of-process restore, with real processes: anvil, four
`anima signer serve` processes (node A, node B, two guardians; the INSECURE simulated
TEE) and `anima agent recover` in its own process. Node A stays alive; node B recovers
the agent and anchors the handover at epoch 1; node A reads the anchor from a storage
proof (CheckAnchor) and stops signing for the agent, durably; node B signs; the log
and the DA manifest show the handover."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.sync import SyncState, sync_agent
from anima_dev.anchor import (
    deploy_agent_anchor,
    read_anchor_proof,
    relay_update,
    verified_blocks,
)
from anima_dev.contracts import dev_account
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.local_signer import LocalSigner, local_signer
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import AgentFencedHere, InvalidRequest, SignerRpcError
from anima_signer_api.types import LogEntryInput, PersonalMessage, SignRequest
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.lifedata import AnchorState, parse_signed_manifest
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.note import parse_note
from tests.signer.conftest import OPEN_POLICY, SIM_TRUST

pytestmark = pytest.mark.slow
AGENT = "alice"
CHAIN_ID = 31337
CALLERS = ("admin", "runtime", "dasync", "recovery")
GUARDIAN_TERMS = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})


@dataclass
class World:
    chain: LocalChain
    contract: bytes
    genesis: str
    a: LocalSigner
    b: LocalSigner
    guardians: list[LocalSigner]
    shares: list[Path]
    log_key: str
    wallet: str
    slot: bytes
    anchored: AnchorState
    da: Path
    tmp: Path
    stack: contextlib.ExitStack

    def anchor_args(self) -> tuple[str, ...]:
        return (
            "--anchor-contract",
            "0x" + self.contract.hex(),
            "--anchor-trusted-block",
            self.genesis,
        )


async def _client(node: LocalSigner, role: str) -> SignerClient:
    return await SignerClient.connect_attested(
        address=node.address, token=node.tokens[role], policy=SIM_TRUST
    )


def _entry(n: int) -> LogEntryInput:
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="r",
        payload_sha256=bytes([n]) * 32,
        payload_size=n,
    )


def _proof(w: World) -> tuple[bytes, list[bytes], bytes]:
    """What a host hands its enclave: blocks from the trusted one, the storage proof."""
    head, blocks = verified_blocks(w.chain, bytes.fromhex(w.genesis[2:]))
    _, proof = read_anchor_proof(w.chain, w.contract, w.slot, head)
    return w.slot, [json.dumps(b).encode() for b in blocks], json.dumps(proof).encode()


def _hello(n: int) -> SignRequest:
    return SignRequest(
        agent_id=AGENT, payload=PersonalMessage(wallet_index=0, message=b"hi %d" % n)
    )


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[LocalChain]:
    with local_chain(tmp_path / "anvil", chain_id=CHAIN_ID) as running:
        yield running


@pytest.fixture
async def world(chain: LocalChain, tmp_path: Path) -> AsyncIterator[World]:
    genesis = chain.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    contract = deploy_agent_anchor(chain)
    anchor_args: tuple[str, ...] = ("--anchor-contract", "0x" + contract.hex())
    anchor_args += ("--anchor-trusted-block", str(genesis["hash"]))
    with contextlib.ExitStack() as stack:
        a, b = (
            stack.enter_context(local_signer(tmp_path / n, callers=CALLERS, extra_args=anchor_args))
            for n in ("a", "b")
        )
        tokens = {"recovery": "guardian-caller-token-for-the-fencing-test"}
        guardians = [
            stack.enter_context(local_signer(tmp_path / g, tokens=tokens)) for g in ("g1", "g2")
        ]
        keys = []
        for g in guardians:
            async with await _client(g, "recovery") as gc:
                keys.append(await gc.guardian_key())
        async with await _client(a, "admin") as admin, await _client(a, "runtime") as runtime:
            agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
            sealed = await admin.escrow_agent_root(
                AGENT, guardian_keys=keys, threshold=2, policy_json=GUARDIAN_TERMS
            )
            result = await runtime.append_log(AGENT, 0, [_entry(i) for i in range(1, 4)])
        shares = []
        for n, share in enumerate(sealed):
            shares.append(tmp_path / f"share{n}")
            shares[-1].write_bytes(share)
        da = tmp_path / "da"
        async with await _client(a, "dasync") as dasync:
            anchored = await sync_agent(
                dasync,
                AGENT,
                backend=LocalDirectoryBackend(root=da),
                state=SyncState(),
                epoch=0,
                log_entries=[e.entry for e in result.entries],
                checkpoint=result.checkpoint,
                parts=[("memories", b'[{"text": "I live in Lisbon"}]', 1)],
            )
            slot, signature = await dasync.sign_anchor_update(
                AGENT, state=anchored, chain_id=CHAIN_ID, contract=contract
            )
        relay_update(chain, contract, slot, anchored, signature)
        yield World(
            chain=chain,
            contract=contract,
            genesis=str(genesis["hash"]),
            a=a,
            b=b,
            guardians=guardians,
            shares=shares,
            log_key=agent.log_verifier_key,
            wallet=agent.wallets[0].address,
            slot=slot,
            anchored=anchored,
            da=da,
            tmp=tmp_path,
            stack=stack,
        )


def _recover(w: World, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        *(sys.executable, "-m", "anima_dev.cli", "agent", "recover", AGENT),
        *("--da", str(w.da), "--rpc", w.chain.url, "--anchor", "0x" + w.contract.hex()),
        *("--anchor-agent", "0x" + w.slot.hex(), "--trusted-block", w.genesis),
        *("--log-key", w.log_key, "--signer", w.b.address, "--insecure-allow-simulated"),
        *(
            a
            for g, s in zip(w.guardians, w.shares, strict=True)
            for a in ("--guardian", f"{g.address}={s}")
        ),
        *("--json", *extra),
    ]
    env = {
        **os.environ,
        "ANIMA_SIGNER_TOKEN": w.b.tokens["recovery"],
        "ANIMA_DASYNC_TOKEN": w.b.tokens["dasync"],
        "ANIMA_GUARDIAN_TOKEN": w.guardians[0].tokens["recovery"],
    }
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=300
    )


async def test_node_b_recovers_and_node_a_stops_signing(world: World) -> None:
    w = world
    # Node A, alive and current: the anchor is at its own epoch; it signs.
    async with await _client(w.a, "admin") as admin, await _client(w.a, "runtime") as runtime:
        anchored, epoch = await admin.check_anchor(AGENT, anchor_proof=_proof(w))
        assert (anchored, epoch) == (w.anchored, 0)
        await runtime.sign(_hello(1))
    done = _recover(w, "--relay-from", dev_account(w.chain, 1))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["wallets"][0]["address"] == w.wallet
    handover = summary["handover"]
    assert (handover["epoch"], handover["version"]) == (1, w.anchored.version + 1)
    assert handover["checkpoint_size"] == w.anchored.checkpoint_size + 1
    # Node A, still alive, reads the new anchor from a storage proof: fenced.
    async with await _client(w.a, "admin") as admin, await _client(w.a, "runtime") as runtime:
        with pytest.raises(AgentFencedHere, match="recovered elsewhere"):
            await admin.check_anchor(AGENT, anchor_proof=_proof(w))
        with pytest.raises(AgentFencedHere):
            await runtime.sign(_hello(2))
        with pytest.raises(AgentFencedHere):
            await runtime.append_log(AGENT, 0, [_entry(9)])
    # Node B reads the same anchor: current at epoch 1; it signs for the agent.
    async with await _client(w.b, "dasync") as dasync, await _client(w.b, "runtime") as runtime:
        anchored, epoch = await dasync.check_anchor(AGENT, anchor_proof=_proof(w))
        assert (anchored.epoch, anchored.version, epoch) == (1, handover["version"], 1)
        signed = await runtime.sign(_hello(3))
        log = await runtime.append_log(AGENT, w.anchored.checkpoint_size, [])
    # The handover is an entry of the log, in the checkpoint anchored at epoch 1.
    first = log.entries[0]
    assert json.loads(first.payload or b"{}")["event"] == "agent_recovered"
    assert signed.log_index == w.anchored.checkpoint_size + 1
    checkpoint = parse_checkpoint(parse_note(log.checkpoint).text)
    assert checkpoint.size == signed.log_index + 1
    backend = LocalDirectoryBackend(root=w.da)
    manifest = parse_signed_manifest(backend.get_manifest(AGENT, handover["version"])).manifest
    assert (manifest.epoch, manifest.counts["log_entries"]) == (1, handover["checkpoint_size"])
    assert anchored.manifest_hash == manifest.digest()


async def test_a_fenced_node_stays_fenced_after_a_restart(world: World) -> None:
    w = world
    done = _recover(w, "--relay-from", dev_account(w.chain, 1))
    assert done.returncode == 0, done.stderr
    async with await _client(w.a, "admin") as admin:
        with pytest.raises(AgentFencedHere):
            await admin.check_anchor(AGENT, anchor_proof=_proof(w))
    w.a.process.terminate()
    w.a.process.wait()
    # The host restarts node A and never shows it the anchor again: still fenced.
    with local_signer(w.tmp / "a", tokens=w.a.tokens, extra_args=w.anchor_args()) as restarted:
        async with await _client(restarted, "runtime") as runtime:
            with pytest.raises(AgentFencedHere, match="recovered elsewhere"):
                await runtime.sign(_hello(4))


async def test_anchor_updates_and_checks_refuse_bad_input(world: World) -> None:
    w = world
    done = _recover(w, "--relay-from", dev_account(w.chain, 1))
    assert done.returncode == 0, done.stderr
    bumped = json.loads(done.stdout)["handover"]
    async with await _client(w.b, "dasync") as dasync:
        # Node B holds the agent at epoch 1: it signs no update at a lower or higher one.
        for epoch in (0, 2):
            state = AnchorState(
                manifest_hash=w.anchored.manifest_hash,
                checkpoint_root=w.anchored.checkpoint_root,
                version=bumped["version"] + 1,
                checkpoint_size=bumped["checkpoint_size"],
                epoch=epoch,
            )
            with pytest.raises(InvalidRequest, match="signs updates at that epoch only"):
                await dasync.sign_anchor_update(
                    AGENT, state=state, chain_id=CHAIN_ID, contract=w.contract
                )
        # A proof of another slot, or blocks that do not start at the trusted block.
        slot, blocks, proof = _proof(w)
        with pytest.raises(InvalidRequest, match="another anchor slot"):
            await dasync.check_anchor(AGENT, anchor_proof=(bytes(20), blocks, proof))
        with pytest.raises(SignerRpcError, match=r"block 1 is 0x[0-9a-f]+, expected"):
            await dasync.check_anchor(AGENT, anchor_proof=(slot, blocks[1:], proof))
    # A second recovery from the same DA into node B: the agent is there already.
    again = _recover(w, "--relay-from", dev_account(w.chain, 1))
    assert again.returncode == 1 and "already" in again.stderr
