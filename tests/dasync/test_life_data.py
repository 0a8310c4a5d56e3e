"""Life data through a DA backend and back, with real signers on the INSECURE simulated
TEE: node A seals and signs, the local directory backend stores, node B recovers the
agent root from guardians and restores only what verifies, byte for byte."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from anima_dasync.backends import LocalDirectoryBackend, ManifestExists
from anima_dasync.fetch import FetchedLifeData, fetch_verified
from anima_dasync.publish import publish
from anima_signer.core import Signer
from anima_signer.escrow import Guardian, RecoveringEnclave, create_escrow
from anima_signer.keys import KeyRing
from anima_signer.lifedata import LifeDataSealer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer.vault import SealedBlobNotAuthentic, SealedForAnotherAgent
from anima_signer_api.types import Agent
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.eth import eth_address
from anima_verify.lifedata import (
    ChunkCorrupt,
    ChunkMissing,
    ChunkRef,
    MalformedManifest,
    Manifest,
    ManifestDropsHistory,
    ManifestForAnotherAgent,
    ManifestNotAnchored,
    ManifestSignatureInvalid,
    SignedManifest,
    check_log_snapshot,
    verify_manifest,
)
from anima_verify.tlog.errors import RootMismatch
from anima_verify.tlog.note import parse_verifier_key
from tests.signer.conftest import OPEN_POLICY, open_signer

POLICY = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
EPOCH = 0


@dataclass
class NodeA:
    signer: Signer
    agent: Agent
    sealer: LifeDataSealer
    backend: LocalDirectoryBackend
    manifests: list[Manifest]
    log: list[bytes]


def _snapshot(node: NodeA, memories: list[str]) -> tuple[SignedManifest, dict[str, bytes]]:
    """Seal a delta (new memories, the log since the last manifest) and sign the next
    manifest, as the enclave would on each sync."""
    result = node.signer.append_log(node.agent.agent_id, len(node.log), [])
    new_log = [e.entry for e in result.entries]
    node.log.extend(new_log)
    previous = node.manifests[-1] if node.manifests else None
    sealed: dict[str, bytes] = {}
    refs: list[ChunkRef] = []
    for kind, body, items in (
        ("memories", json.dumps(memories).encode(), len(memories)),
        ("log", json.dumps([e.hex() for e in new_log]).encode(), len(new_log)),
    ):
        ref, data = node.sealer.seal_chunk(
            node.agent.agent_id, kind=kind, plaintext=body, items=items, epoch=EPOCH
        )
        refs.append(ref)
        sealed[ref.chunk_id] = data
    manifest = Manifest(
        agent_id=node.agent.agent_id,
        version=(previous.version + 1) if previous else 1,
        previous=previous.digest().hex() if previous else "",
        epoch=EPOCH,
        chunks=(*(previous.chunks if previous else ()), *refs),
        checkpoint=result.checkpoint.decode(),
        counts={"log_entries": len(node.log)},
    )
    return node.sealer.sign_manifest(manifest), sealed


def _sync(node: NodeA, memories: list[str]) -> Manifest:
    signed, sealed = _snapshot(node, memories)
    previous = node.manifests[-1] if node.manifests else None
    publish(node.backend, signed, new_chunks=sealed, previous=previous)
    node.manifests.append(signed.manifest)
    return signed.manifest


@pytest.fixture
async def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    signer = await open_signer(tmp_path / "a")
    guardians = []
    for i in range(3):
        g = await open_signer(tmp_path / f"g{i}")
        guardians.append((g, Guardian(keyring=g._keys)))
    agent = signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    escrow = create_escrow(
        signer._keys,
        agent_id="alice",
        guardians=[g.public_key() for _, g in guardians],
        threshold=2,
        policy_json=POLICY,
    )
    node = NodeA(
        signer=signer,
        agent=agent,
        sealer=LifeDataSealer(keyring=signer._keys),
        backend=LocalDirectoryBackend(root=tmp_path / "da"),
        manifests=[],
        log=[],
    )
    _sync(node, ["My name is Ada"])
    _sync(node, ["I live in Lisbon"])
    yield node, escrow, [g for _, g in guardians], tmp_path
    signer.close()
    for g, _ in guardians:
        g.close()


async def _recover_root(
    tmp_path: Path, escrow: list[bytes], guardians: list[Guardian], agent: Agent
) -> KeyRing:
    tee = InsecureSimulatedTee(state_dir=tmp_path / "b")
    new = RecoveringEnclave(tee=tee, agent_id="alice")
    released = []
    for guardian, share in zip(guardians[:2], escrow[:2], strict=True):
        nonce = guardian.challenge("alice")
        evidence = await new.evidence_for(nonce)
        released.append(
            guardian.release(
                share, agent_id="alice", recipient=new.recipient, evidence=evidence, nonce=nonce
            )
        )
    ring = KeyRing(root_secret=await tee.root_secret())
    ring.use_agent_root("alice", new.agent_root(released, expected_identity=agent.log_public_key))
    return ring


def _fetch(node: NodeA, **overrides: object) -> FetchedLifeData:
    anchored = node.manifests[-1]
    args: dict[str, object] = {
        "agent_id": "alice",
        "log_verifier": parse_verifier_key(node.agent.log_verifier_key),
        "anchored_version": anchored.version,
        "anchored_hash": anchored.digest(),
    }
    args.update(overrides)
    return fetch_verified(node.backend, **args)  # type: ignore[arg-type]


async def test_node_b_restores_the_agent_from_da_and_guardians(world) -> None:  # type: ignore[no-untyped-def]
    node, escrow, guardians, tmp_path = world
    fetched = _fetch(node)
    ring = await _recover_root(tmp_path, escrow, guardians, node.agent)
    assert eth_address(ring.wallet_key("alice", 0).public_key) == node.agent.wallets[0].address
    opener = LifeDataSealer(keyring=ring)
    memories: list[str] = []
    log: list[bytes] = []
    for ref, data in fetched.chunks:
        plain = json.loads(opener.open_chunk("alice", ref=ref, data=data, epochs={EPOCH}))
        if ref.kind == "memories":
            memories += plain
        else:
            log += [bytes.fromhex(e) for e in plain]
    assert memories == ["My name is Ada", "I live in Lisbon"]
    check_log_snapshot(log, fetched.manifest.checkpoint)  # consistent with the anchored checkpoint
    assert log == node.log and len(log) == fetched.manifest.checkpoint.checkpoint.size


async def test_life_data_is_sealed_on_the_backend(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    stored = b"".join(p.read_bytes() for p in (node.backend._chunks).iterdir())
    assert b"Lisbon" not in stored and b"Ada" not in stored


async def test_a_corrupt_or_missing_chunk_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    victim = node.backend._chunks / node.manifests[-1].chunks[0].chunk_id
    original = victim.read_bytes()
    victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ChunkCorrupt):
        _fetch(node)
    victim.unlink()
    with pytest.raises(ChunkMissing):
        _fetch(node)


async def test_a_truncated_or_foreign_signed_manifest_is_refused(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    path = node.backend._manifests / "alice" / f"{2:020d}.json"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(MalformedManifest):
        _fetch(node)
    # The same manifest, signed by another agent's key (another enclave's "alice").
    other = await open_signer(tmp_path / "other")
    try:
        other.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        forged = LifeDataSealer(keyring=other._keys).sign_manifest(node.manifests[-1])
        path.write_bytes(forged.to_bytes())
        with pytest.raises(ManifestSignatureInvalid):
            _fetch(node)
    finally:
        other.close()


async def test_a_rolled_back_anchor_or_manifest_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    first = node.manifests[0]
    # The host serves the older (genuinely signed) manifest where the anchored one should be.
    older = (node.backend._manifests / "alice" / f"{1:020d}.json").read_bytes()
    (node.backend._manifests / "alice" / f"{2:020d}.json").write_bytes(older)
    with pytest.raises(ManifestNotAnchored):
        _fetch(node)
    # An anchor read as an older version (a rolled-back chain view) gets the old hash checked
    # against what is there; the restore never goes below the anchor it verified.
    with pytest.raises(ManifestNotAnchored):
        _fetch(node, anchored_version=2, anchored_hash=first.digest())


async def test_a_manifest_naming_another_agents_chunks_opens_nothing(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    node, escrow, guardians, _ = world
    bob = node.signer.create_agent(agent_id="bobby", wallet_count=1, policy=OPEN_POLICY)
    ref, data = node.sealer.seal_chunk(
        "bobby", kind="memories", plaintext=b'["bob secret"]', items=1, epoch=0
    )
    ring = await _recover_root(tmp_path, escrow, guardians, node.agent)
    with pytest.raises(SealedForAnotherAgent):
        LifeDataSealer(keyring=ring).open_chunk("alice", ref=ref, data=data, epochs={0})
    assert bob.agent_id == "bobby"
    # A manifest, signed by alice's key, that names bobby: refused before any chunk is fetched.
    claimed = replace(node.manifests[-1], agent_id="bobby")
    signature = node.signer._keys.log_key("alice").sign(claimed.signing_message())
    forged = SignedManifest(manifest=claimed, signature=signature).to_bytes()
    with pytest.raises(ManifestForAnotherAgent):
        verify_manifest(
            forged, agent_id="alice", log_verifier=parse_verifier_key(node.agent.log_verifier_key)
        )


async def test_a_chunk_opens_only_as_its_kind_and_only_with_the_agent_root(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    ref, data = next(
        (r, node.backend.get_chunk(r.chunk_id))
        for r in node.manifests[-1].chunks
        if r.kind == "log"
    )
    # Relabelled as memories (same bytes, so the hash still matches): the sealed context differs.
    with pytest.raises(SealedBlobNotAuthentic):
        node.sealer.open_chunk(
            "alice", ref=replace(ref, kind="memories"), data=data, epochs={EPOCH}
        )
    # Another signer that never got the agent root derives another life-data key.
    stranger = KeyRing(root_secret=bytes(32))
    stranger.use_agent_root("alice")
    with pytest.raises(SealedBlobNotAuthentic):
        LifeDataSealer(keyring=stranger).open_chunk("alice", ref=ref, data=data, epochs={EPOCH})


async def test_a_failed_upload_never_publishes_a_manifest(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    signed, sealed = _snapshot(node, ["I like tea"])

    class Flaky(LocalDirectoryBackend):
        def put_chunk(self, chunk_id: str, data: bytes) -> None:
            if len(data) > 0 and chunk_id == signed.manifest.chunks[-1].chunk_id:
                raise OSError("disk full")
            super().put_chunk(chunk_id, data)

    flaky = Flaky(root=node.backend._chunks.parent)
    with pytest.raises(OSError):
        publish(flaky, signed, new_chunks=sealed, previous=node.manifests[-1])
    assert node.backend.latest_version("alice") == 2
    _fetch(node)  # the anchored manifest and all its chunks are still whole
    # A manifest naming a chunk that was never uploaded is refused before publishing.
    missing = dict(sealed)
    missing.pop(signed.manifest.chunks[-1].chunk_id)
    with pytest.raises(ChunkMissing):
        publish(node.backend, signed, new_chunks=missing, previous=node.manifests[-1])
    assert node.backend.latest_version("alice") == 2


async def test_a_successor_that_drops_history_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    signed, sealed = _snapshot(node, ["I like tea"])
    latest = node.manifests[-1]
    for bad in (
        replace(signed.manifest, chunks=signed.manifest.chunks[2:]),  # earlier chunks dropped
        replace(signed.manifest, version=5),
        replace(signed.manifest, previous="00" * 32),
    ):
        with pytest.raises(ManifestDropsHistory):
            publish(
                node.backend, node.sealer.sign_manifest(bad), new_chunks=sealed, previous=latest
            )
    publish(node.backend, signed, new_chunks=sealed, previous=latest)
    with pytest.raises(ManifestExists):  # a published version is never replaced
        node.backend.publish_manifest("alice", 3, signed.to_bytes())


async def test_a_restored_log_must_be_the_checkpoints_tree(world) -> None:  # type: ignore[no-untyped-def]
    node, *_ = world
    fetched = _fetch(node)
    with pytest.raises(RootMismatch):
        check_log_snapshot(node.log[:-1], fetched.manifest.checkpoint)
    with pytest.raises(RootMismatch):
        check_log_snapshot([*node.log[:-1], node.log[-1] + b" "], fetched.manifest.checkpoint)
    with pytest.raises(RootMismatch):
        check_log_snapshot([*node.log, node.log[-1]], fetched.manifest.checkpoint)
