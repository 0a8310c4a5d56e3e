"""Recovery end to end, in one process with the real parts: node A (its own signer root)
syncs life data to the local DA backend and anchors it on anvil; it dies; node B (another
root) recovers the agent through 2-of-3 guardian signers. Failures restore nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anima_dasync.backends import LocalDirectoryBackend
from anima_dev.anchor import deploy_agent_anchor, read_anchor, verified_head
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.recovery import (
    AnchorTarget,
    SyncState,
    anchor_address,
    recover_agent,
    sync_life_data,
)
from anima_signer.core import Signer
from anima_signer.escrow import Guardian
from anima_signer.fencing import AnchorSource, proven_anchor
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.errors import AgentExists, AgentStateRefused, UnknownAgent
from anima_signer_api.types import Agent, LogEntryInput, PersonalMessage, SignRequest
from anima_verify.attestation import MeasurementMismatch
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.escrow import BelowThreshold
from anima_verify.lifedata import (
    AgentFenced,
    AnchorState,
    ChunkCorrupt,
    ManifestNotAnchored,
    check_fencing,
)
from anima_verify.lifedata.anchor import anchor_slots
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.merkle import leaf_hash, root_from_leaf_hashes
from anima_verify.tlog.note import parse_note
from tests.signer.conftest import OPEN_POLICY, open_signer

CHAIN_ID = 31337
POLICY = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
MEMORIES: list[dict[str, object]] = [
    {"table": "facts", "text": "The user's name is Ada"},
    {"table": "facts", "text": "The user lives in Lisbon"},
]


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


@dataclass
class World:
    agent: Agent
    anchor_agent: bytes
    target: AnchorTarget
    backend: LocalDirectoryBackend
    guardians: list[tuple[Guardian, bytes]]
    guardian_signers: list[Signer]
    node_a_dir: Path
    tmp: Path

    def node_b(self, name: str = "b") -> tuple[InsecureSimulatedTee, Path]:
        return InsecureSimulatedTee(state_dir=self.tmp / name), self.tmp / name


def _host_entry(text: str) -> LogEntryInput:
    import hashlib

    data = text.encode()
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="room-1",
        payload_sha256=hashlib.sha256(data).digest(),
        payload_size=len(data),
    )


@pytest.fixture
async def world(anvil: LocalChain, tmp_path: Path):  # type: ignore[no-untyped-def]
    genesis = anvil.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    target = AnchorTarget(
        chain=anvil,
        contract=deploy_agent_anchor(anvil),
        trusted_checkpoint=bytes.fromhex(str(genesis["hash"])[2:]),
    )
    node_a = await open_signer(tmp_path / "a")
    guardian_signers = [await open_signer(tmp_path / f"g{i}") for i in range(3)]
    guardians = [g.guardian() for g in guardian_signers]
    agent = node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    shares = node_a.escrow_agent_root(
        "alice",
        guardians=[g.public_key() for g in guardians],
        threshold=2,
        policy_json=POLICY,
    )
    backend = LocalDirectoryBackend(root=tmp_path / "da")
    state = SyncState()
    node_a.append_log("alice", 0, [_host_entry("My name is Ada")])
    sync_life_data(
        node_a, "alice", backend=backend, state=state, memories=MEMORIES[:1], epoch=0, anchor=target
    )
    node_a.append_log("alice", state.log_size, [_host_entry("I live in Lisbon")])
    sync_life_data(
        node_a, "alice", backend=backend, state=state, memories=MEMORIES[1:], epoch=0, anchor=target
    )
    world = World(
        agent=agent,
        anchor_agent=anchor_address(node_a, "alice"),
        target=target,
        backend=backend,
        guardians=list(zip(guardians, shares, strict=True)),
        guardian_signers=guardian_signers,
        node_a_dir=tmp_path / "a",
        tmp=tmp_path,
    )
    node_a.close()  # node A dies (its state directory stays, as a stolen old disk would)
    yield world
    for g in guardian_signers:
        g.close()


async def _recover(world: World, signer: Signer, tee: InsecureSimulatedTee, **overrides: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "agent_id": "alice",
        "log_verifier_key": world.agent.log_verifier_key,
        "anchor_agent": world.anchor_agent,
        "target": world.target,
        "backend": world.backend,
        "guardians": world.guardians[1:],
    }
    args.update(overrides)
    return await recover_agent(signer, tee, **args)  # type: ignore[arg-type]


async def test_node_b_becomes_the_agent_and_fences_node_a(world: World) -> None:
    tee, state_dir = world.node_b()
    node_b = await Signer.open(
        tee=tee, state_dir=state_dir, log_origin_prefix="node-b.anima/agents"
    )
    try:
        recovered = await _recover(world, node_b, tee)
        assert recovered.agent.wallets == world.agent.wallets
        assert recovered.agent.log_verifier_key == world.agent.log_verifier_key
        assert recovered.memories == MEMORIES
        # The log continues from the anchored checkpoint: one handover entry on top.
        result = node_b.append_log("alice", len(recovered.log_entries), [])
        [handover] = result.entries
        assert json.loads(handover.payload or b"{}")["event"] == "agent_recovered"
        checkpoint = parse_checkpoint(parse_note(result.checkpoint).text)
        assert checkpoint.size == recovered.anchor.checkpoint_size + 1
        leaves = [leaf_hash(e) for e in [*recovered.log_entries, handover.entry]]
        assert checkpoint.root_hash == root_from_leaf_hashes(leaves)
        assert root_from_leaf_hashes(leaves[:-1]) == recovered.anchor.checkpoint_root
        # The handover on chain: node B anchors epoch 1; node A would now be fenced.
        assert world.backend.latest_version("alice") == recovered.anchor.version
        handover_state = SyncState(manifest=_manifest(world), log_size=len(recovered.log_entries))
        manifest = sync_life_data(
            node_b,
            "alice",
            backend=world.backend,
            state=handover_state,
            memories=[],
            epoch=1,
            anchor=world.target,
        )
        head = verified_head(world.target.chain, world.target.trusted_checkpoint)
        anchored = read_anchor(world.target.chain, world.target.contract, world.anchor_agent, head)
        assert (anchored.version, anchored.epoch, anchored.manifest_hash) == (
            3,
            1,
            manifest.digest(),
        )
        assert anchored.checkpoint_size == checkpoint.size
        with pytest.raises(AgentFenced):
            check_fencing(anchored, local_epoch=0, local_log_size=recovered.anchor.checkpoint_size)
    finally:
        node_b.close()
    # Node B's restored agent survives its restart: the agent root is kept, sealed.
    node_b = await Signer.open(
        tee=tee, state_dir=state_dir, log_origin_prefix="node-b.anima/agents"
    )
    try:
        assert node_b.get_agent("alice").wallets == world.agent.wallets
    finally:
        node_b.close()


def _manifest(world: World):  # type: ignore[no-untyped-def]
    from anima_verify.lifedata import parse_signed_manifest

    version = world.backend.latest_version("alice")
    return parse_signed_manifest(world.backend.get_manifest("alice", version)).manifest


async def test_failures_restore_nothing(world: World, tmp_path: Path) -> None:
    tee, state_dir = world.node_b()
    node_b = await Signer.open(
        tee=tee, state_dir=state_dir, log_origin_prefix="node-b.anima/agents"
    )
    try:
        # Fewer than k guardians.
        with pytest.raises(BelowThreshold):
            await _recover(world, node_b, tee, guardians=world.guardians[:1])
        # A corrupt chunk on the DA layer.
        chunk = next((world.backend._chunks).iterdir())
        original = chunk.read_bytes()
        chunk.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(ChunkCorrupt):
            await _recover(world, node_b, tee)
        chunk.write_bytes(original)
        # The host serves the older manifest under the anchored version.
        folder = world.backend._manifests / "alice"
        latest = folder / f"{2:020d}.json"
        good = latest.read_bytes()
        latest.write_bytes((folder / f"{1:020d}.json").read_bytes())
        with pytest.raises(ManifestNotAnchored):
            await _recover(world, node_b, tee)
        latest.write_bytes(good)
        with pytest.raises(UnknownAgent):
            node_b.get_agent("alice")
        assert node_b.list_agents() == []
        # Then the honest recovery works, and a second one cannot clobber the running agent.
        recovered = await _recover(world, node_b, tee)
        with pytest.raises(AgentExists):
            await _recover(world, node_b, tee)
        assert node_b.get_agent("alice") == recovered.agent
    finally:
        node_b.close()


async def test_an_enclave_outside_the_policy_recovers_nothing(world: World) -> None:
    tee, state_dir = world.node_b()
    node_b = await Signer.open(
        tee=tee, state_dir=state_dir, log_origin_prefix="node-b.anima/agents"
    )
    strict = json.dumps({"mrtd": ["ab" * 48], "allow_insecure_simulated": True})
    try:
        node_a = await open_signer(world.node_a_dir)
        try:
            shares = node_a.escrow_agent_root(
                "alice",
                guardians=[g.public_key() for g, _ in world.guardians],
                threshold=2,
                policy_json=strict,
            )
        finally:
            node_a.close()
        guardians = [(g, s) for (g, _), s in zip(world.guardians, shares, strict=True)]
        with pytest.raises(MeasurementMismatch):
            await _recover(world, node_b, tee, guardians=guardians)
        assert node_b.list_agents() == []
    finally:
        node_b.close()


def _enclave_view(world: World) -> AnchorState:
    """What the host hands an enclave: every block from the trusted one, and the proof."""
    chain = world.target.chain
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    blocks = [chain.rpc("eth_getBlockByNumber", [hex(n), False]) for n in range(head + 1)]
    slots = ["0x" + s.to_bytes(32, "big").hex() for s in anchor_slots(world.anchor_agent)]
    proof = chain.rpc("eth_getProof", ["0x" + world.target.contract.hex(), slots, hex(head)])
    source = AnchorSource(
        contract=world.target.contract, trusted_checkpoint=world.target.trusted_checkpoint
    )
    return proven_anchor(source, agent=world.anchor_agent, blocks=blocks, proof=proof)  # type: ignore[arg-type]


async def test_old_enclaves_and_old_disks_stop_signing(world: World) -> None:
    # Node A, before any recovery: its own anchor, its own epoch: it keeps working.
    node_a = await open_signer(world.node_a_dir)
    try:
        node_a.apply_anchor("alice", _enclave_view(world))
        node_a.get_agent("alice")
    finally:
        node_a.close()
    tee, state_dir = world.node_b()
    node_b = await Signer.open(
        tee=tee, state_dir=state_dir, log_origin_prefix="node-b.anima/agents"
    )
    recovered = await _recover(world, node_b, tee)
    state = SyncState(manifest=_manifest(world), log_size=len(recovered.log_entries))
    sync_life_data(
        node_b,
        "alice",
        backend=world.backend,
        state=state,
        memories=[],
        epoch=1,
        anchor=world.target,
    )
    node_b.close()
    old_disk = world.tmp / "b-old"
    shutil.copytree(state_dir, old_disk)
    node_b = await Signer.open(
        tee=tee, state_dir=state_dir, log_origin_prefix="node-b.anima/agents"
    )
    try:
        node_b.append_log("alice", state.log_size, [_host_entry("Still here")])
        sync_life_data(
            node_b,
            "alice",
            backend=world.backend,
            state=state,
            memories=[],
            epoch=1,
            anchor=world.target,
        )
        node_b.apply_anchor("alice", _enclave_view(world))  # the live enclave is current
        assert node_b.get_agent("alice").wallets == world.agent.wallets
    finally:
        node_b.close()
    # Node A comes back: the anchor's epoch is newer, so it stops signing for alice.
    node_a = await open_signer(world.node_a_dir)
    try:
        with pytest.raises(AgentStateRefused, match="recovered elsewhere"):
            node_a.apply_anchor("alice", _enclave_view(world))
        [refused] = node_a.sign_many([_sign_request()])
        assert isinstance(refused, AgentStateRefused)
        with pytest.raises(AgentStateRefused):
            node_a.append_log("alice", 0, [_host_entry("split brain")])
        # Nor does it seal, sign a manifest, move the anchor or escrow the root any more.
        with pytest.raises(AgentStateRefused):
            node_a.seal_life_chunk("alice", kind="memories", plaintext=b"[]", items=0, epoch=0)
        with pytest.raises(AgentStateRefused):
            node_a.sign_manifest(_manifest(world))
        with pytest.raises(AgentStateRefused):
            node_a.sign_anchor_update(
                "alice",
                state=_enclave_view(world),
                chain_id=CHAIN_ID,
                contract=world.target.contract,
            )
        with pytest.raises(AgentStateRefused):
            node_a.escrow_agent_root("alice", guardians=[], threshold=1, policy_json=POLICY)
        assert node_a.list_agents() == []
    finally:
        node_a.close()
    # Node B's disk restored from the older copy: its log is behind the anchor.
    old = await Signer.open(
        tee=InsecureSimulatedTee(state_dir=old_disk),
        state_dir=old_disk,
        log_origin_prefix="node-b.anima/agents",
    )
    try:
        with pytest.raises(AgentStateRefused, match="older than the anchor"):
            old.apply_anchor("alice", _enclave_view(world))
        with pytest.raises(AgentStateRefused):
            old.append_log("alice", 0, [])
    finally:
        old.close()


def _sign_request() -> SignRequest:
    return SignRequest(agent_id="alice", payload=PersonalMessage(wallet_index=0, message=b"hello"))
