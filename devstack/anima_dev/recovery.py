"""Life-data sync and recovery, composed in one process (tests, demo, bench).

The enclave's parts are the real ones (anima_signer: sealing, signing, escrow,
restore) and the host's are the real DA backend and anvil; what is missing is
the transport between them (no gRPC for sync and recovery yet), so the host
here calls the enclave objects directly. Every check a restore makes is the
enclave's or the verification library's; this module only carries bytes.
Memories here are JSON records; a node with a memory service seals its export
stream instead (anima_dasync.memories, tests/dasync/test_memories.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from anima_dasync.backends.base import DABackend
from anima_dasync.fetch import fetch_verified
from anima_dasync.publish import publish
from anima_dev.anchor import read_anchor, relay_update, verified_head
from anima_dev.local_chain import LocalChain
from anima_signer.core import Signer
from anima_signer.escrow import Guardian, RecoveringEnclave
from anima_signer.lifedata import LifeDataSealer
from anima_signer.recovery import SignerStateSnapshot
from anima_signer.tee.base import TeeBackend
from anima_signer_api.types import Agent
from anima_verify.lifedata import AnchorState, ChunkRef, Manifest
from anima_verify.tlog.checkpoint import parse_checkpoint
from anima_verify.tlog.note import parse_note, parse_verifier_key


@dataclass
class AnchorTarget:
    chain: LocalChain
    contract: bytes
    trusted_checkpoint: bytes  # a block hash the enclave trusts (genesis on the dev chain)


@dataclass
class SyncState:
    """The host's view of what was already published for one agent."""

    manifest: Manifest | None = None
    log_size: int = 0


def anchor_address(signer: Signer, agent_id: str) -> bytes:
    return signer.anchor_address(agent_id)


def sync_life_data(
    signer: Signer,
    agent_id: str,
    *,
    backend: DABackend,
    state: SyncState,
    memories: Sequence[dict[str, object]],
    epoch: int,
    anchor: AnchorTarget | None,
) -> Manifest:
    """Seal a delta (new memories, log entries since the last sync, the signer state),
    publish the next manifest (chunks first), then anchor it."""
    result = signer.append_log(agent_id, state.log_size, [])
    entries = [e.entry.hex() for e in result.entries]
    parts = [
        ("signer-state", signer.signer_state_snapshot(agent_id).to_bytes(), 1),
        ("memories", json.dumps(list(memories)).encode(), len(memories)),
        ("log", json.dumps(entries).encode(), len(entries)),
    ]
    refs: list[ChunkRef] = []
    sealed: dict[str, bytes] = {}
    for kind, plaintext, items in parts:
        ref, data = signer.seal_life_chunk(
            agent_id, kind=kind, plaintext=plaintext, items=items, epoch=epoch
        )
        refs.append(ref)
        sealed[ref.chunk_id] = data
    previous = state.manifest
    counts = dict(previous.counts) if previous else {"memories": 0}
    counts["memories"] = counts.get("memories", 0) + len(memories)
    counts["log_entries"] = result.size
    manifest = Manifest(
        agent_id=agent_id,
        version=previous.version + 1 if previous else 1,
        previous=previous.digest().hex() if previous else "",
        epoch=epoch,
        chunks=(*(previous.chunks if previous else ()), *refs),
        checkpoint=result.checkpoint.decode(),
        counts=counts,
    )
    publish(backend, signer.sign_manifest(manifest), new_chunks=sealed, previous=previous)
    state.manifest, state.log_size = manifest, result.size
    if anchor is not None:
        checkpoint = parse_checkpoint(parse_note(result.checkpoint).text)
        anchor_state(
            signer, agent_id, anchor, manifest, checkpoint.size, checkpoint.root_hash, epoch
        )
    return manifest


def anchor_state(
    signer: Signer,
    agent_id: str,
    target: AnchorTarget,
    manifest: Manifest,
    size: int,
    root: bytes,
    epoch: int,
) -> AnchorState:
    state = AnchorState(
        manifest_hash=manifest.digest(),
        checkpoint_root=root,
        version=manifest.version,
        checkpoint_size=size,
        epoch=epoch,
    )
    signature = signer.sign_anchor_update(
        agent_id, state=state, chain_id=target.chain.chain_id, contract=target.contract
    )
    relay_update(target.chain, target.contract, signer.anchor_address(agent_id), state, signature)
    return state


@dataclass
class Recovered:
    agent: Agent
    anchor: AnchorState
    memories: list[dict[str, object]]
    log_entries: list[bytes]
    seconds: float


async def recover_agent(
    signer: Signer,
    tee: TeeBackend,
    *,
    agent_id: str,
    log_verifier_key: str,
    anchor_agent: bytes,
    target: AnchorTarget,
    backend: DABackend,
    guardians: Sequence[tuple[Guardian, bytes]],
) -> Recovered:
    """Recover on a new node: anchor (proven), manifest and chunks (verified), root from
    guardians, chunks opened, signer restored in one transaction, then the epoch bumped
    on chain (fencing the old enclave). Any failure leaves the new signer untouched."""
    started = time.perf_counter()
    head = verified_head(target.chain, target.trusted_checkpoint)
    anchored = read_anchor(target.chain, target.contract, anchor_agent, head)
    fetched = fetch_verified(
        backend,
        agent_id=agent_id,
        log_verifier=parse_verifier_key(log_verifier_key),
        anchored_version=anchored.version,
        anchored_hash=anchored.manifest_hash,
    )
    new = RecoveringEnclave(tee=tee, agent_id=agent_id)
    released = []
    for guardian, sealed_share in guardians:
        nonce = guardian.challenge(agent_id)
        evidence = await new.evidence_for(nonce)
        released.append(
            guardian.release(
                sealed_share,
                agent_id=agent_id,
                recipient=new.recipient,
                evidence=evidence,
                nonce=nonce,
            )
        )
    identity = parse_verifier_key(log_verifier_key).public_key
    root = new.agent_root(released, expected_identity=identity)
    opener = RootOpener(agent_id=agent_id, agent_root=root, epoch=fetched.manifest.manifest.epoch)
    snapshot: SignerStateSnapshot | None = None
    memories: list[dict[str, object]] = []
    entries: list[bytes] = []
    for ref, data in fetched.chunks:
        plain = opener.open(ref, data)
        if ref.kind == "signer-state":
            snapshot = SignerStateSnapshot.from_bytes(plain)  # the latest one wins
        elif ref.kind == "memories":
            memories += json.loads(plain)
        elif ref.kind == "log":
            entries += [bytes.fromhex(e) for e in json.loads(plain)]
    if snapshot is None:
        raise ValueError("the manifest names no signer-state chunk")
    agent = signer.restore_agent(
        agent_root=root,
        snapshot=snapshot,
        log_entries=entries,
        checkpoint=fetched.manifest.checkpoint.to_bytes(),
        anchor=anchored,
    )
    return Recovered(
        agent=agent,
        anchor=anchored,
        memories=memories,
        log_entries=entries,
        seconds=time.perf_counter() - started,
    )


class RootOpener:
    """Opens life-data chunks with a recovered agent root before the agent is restored
    (a throwaway key ring: the root is written to the signer only if all verifies)."""

    def __init__(self, *, agent_id: str, agent_root: bytes, epoch: int) -> None:
        from anima_signer.keys import KeyRing

        ring = KeyRing(root_secret=bytes(32))  # signer-root keys are never used here
        ring.use_agent_root(agent_id, agent_root)
        self._sealer = LifeDataSealer(keyring=ring)
        self._agent_id = agent_id
        self._epoch = epoch

    def open(self, ref: ChunkRef, data: bytes) -> bytes:
        return self._sealer.open_chunk(
            self._agent_id, ref=ref, data=data, epochs=range(self._epoch + 1)
        )
