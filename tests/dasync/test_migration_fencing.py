"""A peer migration anchored on chain, with real processes: anvil, two `anima signer
serve` processes (the INSECURE simulated TEE, admitted because the agent's measurement
policy allows it) and `anima agent migrate --relay-from` in its own process. Node B
takes the agent over at epoch 1 and the anchor says so; node A, its state directory
rolled back to before the export (the local fence undone), signs again until it is
shown the anchor, then refuses the agent for good."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

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
from anima_dev.migrate_anchor import AnchorPlan, MigrationNotAnchored, anchor_migration
from anima_dev.recover_cli import JsonRpc
from anima_signer_api.errors import AgentFencedHere
from anima_signer_api.migration_client import ImportedAgent
from anima_verify.escrow.share import public_bytes
from anima_verify.lifedata import AnchorState, parse_signed_manifest
from tests.dasync.test_fencing_processes import (
    AGENT,
    CALLERS,
    CHAIN_ID,
    GUARDIAN_TERMS,
    _client,
    _entry,
    _hello,
)
from tests.signer.conftest import OPEN_POLICY, SIM_TRUST

if TYPE_CHECKING:
    from anima_signer_api.types import Agent

pytestmark = pytest.mark.slow


@dataclass
class World:
    chain: LocalChain
    contract: bytes
    genesis: str
    a: LocalSigner
    b: LocalSigner
    anchor_args: tuple[str, ...]
    log_key: str
    wallet: str
    slot: bytes
    anchored: AnchorState
    da: Path
    tmp: Path

    def proof(self) -> tuple[bytes, list[bytes], bytes]:
        """What a host hands its enclave: blocks from the trusted one, the storage proof."""
        head, blocks = verified_blocks(self.chain, bytes.fromhex(self.genesis[2:]))
        _, proof = read_anchor_proof(self.chain, self.contract, self.slot, head)
        return self.slot, [json.dumps(b).encode() for b in blocks], json.dumps(proof).encode()


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
        async with await _client(a, "admin") as admin, await _client(a, "runtime") as runtime:
            agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
            # Migration checks the destination against the policy escrow records.
            guardian = public_bytes(X25519PrivateKey.generate().public_key())
            await admin.escrow_agent_root(
                AGENT, guardian_keys=[guardian], threshold=1, policy_json=GUARDIAN_TERMS
            )
            result = await runtime.append_log(AGENT, 0, [_entry(i) for i in range(1, 4)])
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
            anchor_args=anchor_args,
            log_key=agent.log_verifier_key,
            wallet=agent.wallets[0].address,
            slot=slot,
            anchored=anchored,
            da=da,
            tmp=tmp_path,
        )


def _migrate(w: World, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        *(sys.executable, "-m", "anima_dev.cli", "agent", "migrate", AGENT),
        *("--from", w.a.address, "--to", w.b.address, "--insecure-allow-simulated"),
        *extra,
        "--json",
    ]
    env = {
        **os.environ,
        "ANIMA_SIGNER_TOKEN": w.a.tokens["admin"],
        "ANIMA_DESTINATION_TOKEN": w.b.tokens["recovery"],
        "ANIMA_DASYNC_TOKEN": w.b.tokens["dasync"],
    }
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=300
    )


def _chain_args(w: World) -> tuple[str, ...]:
    return (
        *("--relay-from", dev_account(w.chain, 1), "--rpc", w.chain.url),
        *("--anchor", "0x" + w.contract.hex(), "--anchor-agent", "0x" + w.slot.hex()),
        *("--trusted-block", w.genesis, "--da", str(w.da)),
    )


def _stop(node: LocalSigner) -> None:
    node.process.terminate()
    node.process.wait()


async def test_an_anchored_migration_fences_a_rolled_back_source(world: World) -> None:
    w = world
    # The host keeps a copy of node A's sealed state from before the export.
    _stop(w.a)
    before_export = w.tmp / "a-before-export"
    shutil.copytree(w.tmp / "a" / "signer", before_export)
    with local_signer(w.tmp / "a", tokens=w.a.tokens, extra_args=w.anchor_args) as a:
        w.a = a
        done = _migrate(w, *_chain_args(w))
        _stop(a)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["wallets"][0]["address"] == w.wallet
    handover = summary["handover"]
    assert (handover["epoch"], handover["version"]) == (1, w.anchored.version + 1)
    assert handover["checkpoint_size"] == summary["log"]["size"]

    # The anchor names node B's epoch; node B is current there and signs.
    async with await _client(w.b, "dasync") as dasync, await _client(w.b, "runtime") as runtime:
        anchored, epoch = await dasync.check_anchor(AGENT, anchor_proof=w.proof())
        assert (anchored.epoch, anchored.version, epoch) == (1, handover["version"], 1)
        await runtime.sign(_hello(1))
    backend = LocalDirectoryBackend(root=w.da)
    manifest = parse_signed_manifest(backend.get_manifest(AGENT, handover["version"])).manifest
    assert (manifest.epoch, manifest.counts["log_entries"]) == (1, handover["checkpoint_size"])
    assert anchored.manifest_hash == manifest.digest()

    # The host rolls node A back to before the export: the local fence is gone and,
    # not shown the anchor, it signs for the agent again (what the anchor is for).
    shutil.rmtree(w.tmp / "a" / "signer")
    shutil.copytree(before_export, w.tmp / "a" / "signer")
    with local_signer(w.tmp / "a", tokens=w.a.tokens, extra_args=w.anchor_args) as rolled:
        async with await _client(rolled, "runtime") as runtime:
            await runtime.sign(_hello(2))
        # Shown the anchor, it sees the newer epoch and stops, durably.
        async with await _client(rolled, "admin") as admin:
            with pytest.raises(AgentFencedHere, match="recovered elsewhere"):
                await admin.check_anchor(AGENT, anchor_proof=w.proof())
        async with await _client(rolled, "runtime") as runtime:
            with pytest.raises(AgentFencedHere):
                await runtime.sign(_hello(3))
        _stop(rolled)
    with local_signer(w.tmp / "a", tokens=w.a.tokens, extra_args=w.anchor_args) as restarted:
        async with await _client(restarted, "runtime") as runtime:
            with pytest.raises(AgentFencedHere):
                await runtime.sign(_hello(4))


async def test_bad_chain_arguments_hand_nothing_over(world: World) -> None:
    w = world
    incomplete = _migrate(w, "--relay-from", dev_account(w.chain, 1), "--rpc", w.chain.url)
    assert incomplete.returncode != 0
    assert "--relay-from needs --anchor, --anchor-agent, --trusted-block, --da" in (
        incomplete.stderr
    )
    stray = _migrate(w, "--da", str(w.da))
    assert stray.returncode != 0 and "--da goes with --relay-from" in stray.stderr
    # A slot with no anchor: read before the export, so the agent stays on node A.
    args = list(_chain_args(w))
    args[args.index("--anchor-agent") + 1] = "0x" + bytes(20).hex()
    unanchored = _migrate(w, *args)
    assert unanchored.returncode != 0, unanchored.stdout
    async with await _client(w.a, "runtime") as runtime:
        await runtime.sign(_hello(5))


@pytest.mark.parametrize(("anchored_size", "first_index"), [(3, 5), (9, 0)])
async def test_an_anchor_outside_the_handed_over_log_is_refused(
    tmp_path: Path, anchored_size: int, first_index: int
) -> None:
    """Entries between the anchor and the handover live only in the source host's
    storage (or the anchor is past the log): no manifest can be built, none is sent."""
    anchored = AnchorState(
        manifest_hash=bytes(32),
        checkpoint_root=bytes(32),
        version=1,
        checkpoint_size=anchored_size,
        epoch=0,
    )
    plan = AnchorPlan(
        chain=JsonRpc("http://127.0.0.1:9"),  # never called
        contract=bytes(20),
        anchored=anchored,
        backend=LocalDirectoryBackend(root=tmp_path),
        relay_from="0x" + bytes(20).hex(),
        chain_id=CHAIN_ID,
        token="unused",
    )
    agent = cast("Agent", SimpleNamespace(agent_id=AGENT))
    imported = ImportedAgent(
        agent=agent,
        log_size=7,
        handover_entries=[b"e"] * (7 - first_index),
        handover_checkpoint=b"note",
        handover_first_index=first_index,
    )
    with pytest.raises(MigrationNotAnchored, match="Sync and anchor the source"):
        await anchor_migration(plan, imported, destination="127.0.0.1:9", policy=SIM_TRUST)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # no manifest, no chunk
