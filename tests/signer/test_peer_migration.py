"""Peer migration through real signer servers' gRPC APIs on loopback (the INSECURE
simulated TEE, admitted only because the agent's measurement policy allows it): node
A moves a live agent to node B. Same wallet on B, A refuses it afterwards (after a
restart too), one consistent log; every bad input is refused and changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from eth_account import Account
from eth_account.messages import encode_defunct

from anima_core.auth import token_digest
from anima_signer import migration
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer.core import Signer
from anima_signer.migration import MigrationBundle
from anima_signer.sequencer import wall_clock_ms
from anima_signer.store import LogStateRecord, StoredAgent
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import (
    AgentExists,
    AgentMigrated,
    InvalidRequest,
    SignerRpcError,
    UnknownAgent,
)
from anima_signer_api.types import EthSignature, LogEntryInput, PersonalMessage, SignRequest
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.escrow import MigrationRefused
from anima_verify.escrow.migration import CHALLENGE_TTL_MS, seal_to_destination
from anima_verify.escrow.share import public_bytes
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.entry import EntryKind, decode_entry
from anima_verify.tlog.merkle import CompactRange, leaf_hash
from anima_verify.tlog.note import parse_verifier_key
from tests.signer.conftest import OPEN_POLICY, SIM_TRUST, open_signer

TOKENS = {
    "admin": "admin-token-for-migration-tests",
    "runtime": "runtime-token-for-migration-tests",
    "recovery": "recovery-token-for-migration-tests",
}
SIM_POLICY = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
AGENT = "alice"


@dataclass
class Node:
    running: RunningSigner
    address: str
    state_dir: Path

    async def client(self, role: str) -> SignerClient:
        return await SignerClient.connect_attested(
            address=self.address, token=TOKENS[role], policy=SIM_TRUST
        )

    async def stop(self) -> None:
        await self.running.stop(grace=0.2)


async def start_node(state_dir: Path) -> Node:
    config = SignerConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "state_dir": state_dir,
            "tee": "sim",
            "callers": {name: token_digest(t) for name, t in TOKENS.items()},
            "log_origin_prefix": "test.anima/agents",
        }
    )
    running = await start_signer(config)
    return Node(running=running, address=f"127.0.0.1:{running.port}", state_dir=state_dir)


def host_entry(n: int) -> LogEntryInput:
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="r",
        payload_sha256=bytes([n]) * 32,
        payload_size=n,
    )


@dataclass
class Live:
    """Node A serving the agent, with what its host stored; nodes B and C empty."""

    a: Node
    b: Node
    c: Node
    log_key: str
    wallet: str
    host_entries: list[bytes]  # the entries A's host stored, [0, len)
    replay: tuple[SignRequest, EthSignature]  # a signature made with an idempotency key


async def create_live_agent(a: Node, *, policy_json: str = SIM_POLICY) -> Live:
    async with await a.client("admin") as admin, await a.client("runtime") as runtime:
        agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
        guardian = X25519PrivateKey.generate().public_key()
        await admin.escrow_agent_root(
            AGENT, guardian_keys=[_raw(guardian)], threshold=1, policy_json=policy_json
        )
        request = SignRequest(AGENT, PersonalMessage(b"gm from A"), idempotency_key="k-1")
        signed = await runtime.sign(request)
        assert isinstance(signed, EthSignature)
        stored = await runtime.append_log(AGENT, 0, [host_entry(i) for i in range(1, 4)])
        # One more signature the host has not collected: it must travel in the tail.
        await runtime.sign(SignRequest(AGENT, PersonalMessage(b"unstored")))
    return Live(
        a=a,
        b=a,
        c=a,
        log_key=agent.log_verifier_key,
        wallet=agent.wallets[0].address,
        host_entries=[e.entry for e in stored.entries],
        replay=(request, signed),
    )


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    nodes = [await start_node(tmp_path / name) for name in ("a", "b", "c")]
    world = None
    try:
        world = await create_live_agent(nodes[0])
        world.b, world.c = nodes[1], nodes[2]
        yield world
    finally:
        # A test may restart node A: stop the one running now.
        for node in nodes if world is None else (world.a, world.b, world.c):
            await node.stop()


def _raw(key: X25519PublicKey) -> bytes:
    return public_bytes(key)


async def migrate(w: Live, to: Node) -> tuple[bytes, int, int]:
    """The three calls; (envelope, size after handover, size after import)."""
    async with await to.client("recovery") as dest, await w.a.client("recovery") as src:
        offer = await dest.migration_challenge(AGENT)
        envelope, handed = await src.export_agent(
            AGENT, challenge=offer.challenge, recipient=offer.recipient, evidence=offer.evidence
        )
        imported = await dest.import_agent(AGENT, log_verifier_key=w.log_key, envelope=envelope)
    assert imported.agent.wallets[0].address == w.wallet
    assert imported.agent.log_verifier_key == w.log_key
    # The handover to anchor: the log from the size A's host confirmed (none: a host
    # confirms on its next AppendLog), through the import entry, checkpointed.
    assert imported.handover_first_index == 0
    assert len(imported.handover_entries) == imported.log_size
    assert imported.handover_entries[: len(w.host_entries)] == w.host_entries
    assert open_checkpoint(imported.handover_checkpoint, [parse_verifier_key(w.log_key)])
    return envelope, handed, imported.log_size


async def assert_a_still_serves(w: Live) -> None:
    async with await w.a.client("runtime") as runtime:
        signed = await runtime.sign(SignRequest(AGENT, PersonalMessage(b"still here")))
    assert isinstance(signed, EthSignature) and signed.address == w.wallet


async def assert_unknown_on(node: Node) -> None:
    async with await node.client("admin") as admin:
        with pytest.raises(UnknownAgent):
            await admin.get_agent(AGENT)


async def test_the_agent_moves_with_its_wallet_log_and_idempotency(live: Live) -> None:
    w = live
    _, handed, imported = await migrate(w, w.b)
    assert imported == handed + 1  # the handover entry on A, then the import entry on B

    async with await w.b.client("runtime") as runtime:
        # The same wallet key: a new signature recovers to A's address.
        signed = await runtime.sign(SignRequest(AGENT, PersonalMessage(b"gm from B")))
        assert isinstance(signed, EthSignature)
        assert Account.recover_message(
            encode_defunct(b"gm from B"), signature=signed.signature
        ) == (w.wallet)
        # The idempotency record moved: the retry gets A's answer, not a second signature.
        request, first = w.replay
        again = await runtime.sign(request)
        assert again == first
        # B's host collects the tail A's host never stored, and one tree holds it all.
        tail = await runtime.append_log(AGENT, len(w.host_entries), [])
    entries = w.host_entries + [e.entry for e in tail.entries]
    assert len(entries) == tail.size == imported + 1
    signed_cp = open_checkpoint(tail.checkpoint, [parse_verifier_key(w.log_key)])
    frontier = CompactRange()
    frontier.extend(leaf_hash(e) for e in entries)
    assert (signed_cp.checkpoint.size, signed_cp.checkpoint.root_hash) == (
        len(entries),
        frontier.root(),
    )
    events = [
        (decode_entry(e.entry).kind, json.loads(e.payload or b"{}").get("event"))
        for e in tail.entries
    ]
    assert (EntryKind.LIFECYCLE, "agent_migrated") in events
    handover = events.index((EntryKind.LIFECYCLE, "agent_migrated"))
    assert events[handover + 1] == (EntryKind.LIFECYCLE, "agent_migrated_in")
    assert handover + len(w.host_entries) == handed - 1

    # A refuses the agent from now on, with the specific error, after a restart too.
    for restart in (False, True):
        if restart:
            await w.a.stop()
            w.a = await start_node(w.a.state_dir)
        async with await w.a.client("runtime") as runtime:
            with pytest.raises(AgentMigrated):
                await runtime.sign(SignRequest(AGENT, PersonalMessage(b"from A")))
            with pytest.raises(AgentMigrated):
                await runtime.append_log(AGENT, len(w.host_entries), [host_entry(9)])
            failures = await runtime.sign_batch([SignRequest(AGENT, PersonalMessage(b"x"))])
            assert [type(getattr(f, "error", f)) for f in failures] == [AgentMigrated]
        async with await w.a.client("admin") as admin:
            with pytest.raises(AgentMigrated):
                await admin.get_agent(AGENT)


async def test_a_destination_outside_the_policy_gets_nothing(live: Live) -> None:
    w = live
    outside = json.dumps({"mrtd": ["ab" * 48], "allow_insecure_simulated": True})
    strict = json.dumps({"mrtd": [SIM_MRTD.hex()]})  # simulated evidence not allowed
    async with (
        await w.a.client("admin") as admin,
        await w.a.client("recovery") as src,
        await w.b.client("recovery") as dest,
    ):
        guardian = _raw(X25519PrivateKey.generate().public_key())
        for policy, why in ((outside, "mrtd"), (strict, "simulated")):
            await admin.escrow_agent_root(
                AGENT, guardian_keys=[guardian], threshold=1, policy_json=policy
            )
            offer = await dest.migration_challenge(AGENT)
            with pytest.raises(SignerRpcError, match=why) as info:
                await src.export_agent(
                    AGENT,
                    challenge=offer.challenge,
                    recipient=offer.recipient,
                    evidence=offer.evidence,
                )
            assert info.value.code == "PERMISSION_DENIED"
    await assert_a_still_serves(w)
    await assert_unknown_on(w.b)


async def test_evidence_for_another_challenge_or_key_is_refused(live: Live) -> None:
    w = live
    async with await w.b.client("recovery") as dest, await w.a.client("recovery") as src:
        first = await dest.migration_challenge(AGENT)
        second = await dest.migration_challenge(AGENT)
        attacks = {
            "evidence for another challenge": (second.challenge, first.recipient, first.evidence),
            "substituted recipient key": (second.challenge, bytes(range(32)), second.evidence),
            "another destination's key": (second.challenge, first.recipient, second.evidence),
        }
        for attack, (challenge, recipient, evidence) in attacks.items():
            with pytest.raises(SignerRpcError) as info:
                await src.export_agent(
                    AGENT, challenge=challenge, recipient=recipient, evidence=evidence
                )
            assert info.value.code == "PERMISSION_DENIED", attack
        with pytest.raises(InvalidRequest, match=r"32 bytes|X25519"):
            await src.export_agent(
                AGENT, challenge=second.challenge, recipient=b"short", evidence=second.evidence
            )
    await assert_a_still_serves(w)
    await assert_unknown_on(w.b)
    # Refusals changed nothing: the genuine migration still goes through.
    await migrate(w, w.b)


async def test_an_agent_without_a_measurement_policy_does_not_move(tmp_path: Path) -> None:
    a, b = await start_node(tmp_path / "a"), await start_node(tmp_path / "b")
    try:
        async with await a.client("admin") as admin:
            await admin.create_agent(AGENT, policy=OPEN_POLICY)
        async with await b.client("recovery") as dest, await a.client("recovery") as src:
            offer = await dest.migration_challenge(AGENT)
            with pytest.raises(InvalidRequest, match="no measurement policy"):
                await src.export_agent(
                    AGENT,
                    challenge=offer.challenge,
                    recipient=offer.recipient,
                    evidence=offer.evidence,
                )
    finally:
        await a.stop()
        await b.stop()


async def test_the_runtime_token_may_not_migrate(live: Live) -> None:
    w = live
    async with await w.b.client("recovery") as dest:
        offer = await dest.migration_challenge(AGENT)
    async with await w.b.client("runtime") as runtime_b, await w.a.client("runtime") as runtime_a:
        calls = {
            "MigrationChallenge": runtime_b.migration_challenge(AGENT),
            "ExportAgent": runtime_a.export_agent(
                AGENT, challenge=offer.challenge, recipient=offer.recipient, evidence=offer.evidence
            ),
            "ImportAgent": runtime_b.import_agent(AGENT, log_verifier_key=w.log_key, envelope=b"x"),
        }
        for name, call in calls.items():
            with pytest.raises(SignerRpcError) as info:
                await call
            assert info.value.code == "PERMISSION_DENIED", name
    await assert_a_still_serves(w)


async def test_replays_and_foreign_envelopes_are_refused(live: Live) -> None:
    w = live
    async with await w.b.client("recovery") as dest, await w.a.client("recovery") as src:
        offer = await dest.migration_challenge(AGENT)
        bob_offer = await dest.migration_challenge("bob")
        envelope, handed = await src.export_agent(
            AGENT, challenge=offer.challenge, recipient=offer.recipient, evidence=offer.evidence
        )
        # The same export again (a lost answer): the same envelope, no second handover.
        assert await src.export_agent(
            AGENT, challenge=offer.challenge, recipient=offer.recipient, evidence=offer.evidence
        ) == (envelope, handed)
        # Any other export after the handover: the agent is gone from A.
        async with await w.c.client("recovery") as other:
            fresh = await other.migration_challenge(AGENT)
            with pytest.raises(AgentMigrated):
                await src.export_agent(
                    AGENT,
                    challenge=fresh.challenge,
                    recipient=fresh.recipient,
                    evidence=fresh.evidence,
                )
        flipped = envelope[:-1] + bytes([envelope[-1] ^ 1])
        forged = _forged_envelope(offer.recipient, offer.challenge, w.log_key)
        async with await w.c.client("admin") as admin_c:  # a real key, another agent's
            other_key = (await admin_c.create_agent("mallory")).log_verifier_key
        refusals: list[tuple[str, str, bytes, str]] = [
            ("bob", w.log_key, envelope, "does not open"),  # alice's envelope as bob's
            ("carol", w.log_key, envelope, "MigrationChallenge first"),  # nothing open
            (AGENT, w.log_key, flipped, "does not open"),
            (AGENT, w.log_key, forged, "does not derive"),  # the host's own root
            (AGENT, other_key, envelope, "does not derive"),  # not the agent's log key
        ]
        for agent_id, key, data, why in refusals:
            with pytest.raises(SignerRpcError, match=why) as info:
                await dest.import_agent(agent_id, log_verifier_key=key, envelope=data)
            assert info.value.code in ("FAILED_PRECONDITION", "INVALID_ARGUMENT"), agent_id
            await assert_unknown_on(w.b)
        assert bob_offer.challenge != offer.challenge
        # The refusals kept the challenge open: the genuine envelope imports once.
        imported = await dest.import_agent(AGENT, log_verifier_key=w.log_key, envelope=envelope)
        assert imported.agent.wallets[0].address == w.wallet
        with pytest.raises(AgentExists):
            await dest.import_agent(AGENT, log_verifier_key=w.log_key, envelope=envelope)
        with pytest.raises(AgentExists):
            await dest.migration_challenge(AGENT)


async def test_import_into_a_signer_that_has_the_agent_changes_nothing(live: Live) -> None:
    w = live
    async with await w.b.client("recovery") as dest, await w.a.client("recovery") as src:
        offer = await dest.migration_challenge(AGENT)
        async with await w.b.client("admin") as admin:
            own = await admin.create_agent(AGENT, policy=OPEN_POLICY)  # B's own "alice"
            envelope, _ = await src.export_agent(
                AGENT, challenge=offer.challenge, recipient=offer.recipient, evidence=offer.evidence
            )
            with pytest.raises(AgentExists):
                await dest.import_agent(AGENT, log_verifier_key=w.log_key, envelope=envelope)
            kept = await admin.get_agent(AGENT)
    assert kept.wallets == own.wallets and kept.wallets[0].address != w.wallet


def _forged_envelope(recipient: bytes, challenge: bytes, log_key: str) -> bytes:
    """What a host can make: a well-formed bundle with a root of its own, sealed to the
    destination's public key (HPKE base mode needs no sender key)."""
    record = StoredAgent(
        agent_id=AGENT,
        wallet_count=1,
        policy=OPEN_POLICY,
        created_at=datetime.now(UTC).replace(microsecond=0),
        key_derivation_version=2,
    )
    bundle = MigrationBundle(
        agent_id=AGENT,
        challenge=challenge,
        agent_root=hashlib.sha256(b"the host's root").digest(),
        epoch=0,
        record=record,
        policy_json=SIM_POLICY,
        log=LogStateRecord(
            agent_id=AGENT,
            origin=log_key.split("+")[0],
            frontier=CompactRange().to_bytes(),
            last_time_ms=0,
            checkpoint=b"",
            released=0,
        ),
        tail=(),
        rows={},
        idempotency=[],
    )
    return seal_to_destination(
        bundle.to_bytes(),
        agent_id=AGENT,
        recipient=X25519PublicKey.from_public_bytes(recipient),
        challenge=challenge,
    )


def _run_cli(w: Live, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANIMA_SIGNER_TOKEN": TOKENS["admin"]}
    env["ANIMA_DESTINATION_TOKEN"] = TOKENS["recovery"]
    command = [
        *(sys.executable, "-m", "anima_dev.cli", "agent", "migrate", AGENT),
        *("--from", w.a.address, "--to", w.b.address, "--insecure-allow-simulated", *extra),
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


async def test_anima_agent_migrate_moves_the_agent(live: Live) -> None:
    w = live
    done = await asyncio.to_thread(_run_cli, w, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["wallets"][0]["address"] == w.wallet
    assert summary["log"]["size"] == summary["log"]["handover_size"] + 1
    async with await w.b.client("runtime") as runtime:
        signed = await runtime.sign(SignRequest(AGENT, PersonalMessage(b"on B")))
    assert isinstance(signed, EthSignature) and signed.address == w.wallet
    # Run again: the agent is gone from A, and the command says so.
    again = await asyncio.to_thread(_run_cli, w)
    assert again.returncode == 1 and "migrated to a peer enclave" in again.stderr


async def test_an_export_too_large_to_import_hands_nothing_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration, "MAX_ENVELOPE_BYTES", 2048)
    a, b = await open_signer(tmp_path / "a"), await open_signer(tmp_path / "b")
    try:
        a.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        guardian = X25519PrivateKey.generate().public_key()
        a.escrow_agent_root(AGENT, guardians=[guardian], threshold=1, policy_json=SIM_POLICY)
        for i in range(8):  # a tail the host has not collected: it makes the envelope big
            last = a.sign(SignRequest(AGENT, PersonalMessage(f"m{i}".encode()))).log_index
        challenge, recipient, evidence = await b.migration_challenge(AGENT)
        with pytest.raises(InvalidRequest, match="nothing was handed over"):
            a.export_agent(AGENT, challenge=challenge, recipient=recipient, evidence=evidence)
        # No handover entry, no fence: A signs on, its log one entry longer.
        signed = a.sign(SignRequest(AGENT, PersonalMessage(b"still mine")))
        assert signed.log_index == last + 1
    finally:
        a.close()
        b.close()


async def test_a_challenge_older_than_ten_minutes_hands_nothing_over(tmp_path: Path) -> None:
    late_by_ms = CHALLENGE_TTL_MS + 1000
    a = await Signer.open(
        tee=InsecureSimulatedTee(state_dir=tmp_path / "a"),
        state_dir=tmp_path / "a",
        log_origin_prefix="test.anima/agents",
        clock_ms=lambda: wall_clock_ms() + late_by_ms,  # the source's clock is later
    )
    b = await open_signer(tmp_path / "b")
    try:
        a.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        guardian = X25519PrivateKey.generate().public_key()
        a.escrow_agent_root(AGENT, guardians=[guardian], threshold=1, policy_json=SIM_POLICY)
        challenge, recipient, evidence = await b.migration_challenge(AGENT)
        with pytest.raises(MigrationRefused, match="ask the destination for a new one"):
            a.export_agent(AGENT, challenge=challenge, recipient=recipient, evidence=evidence)
        assert a.sign(SignRequest(AGENT, PersonalMessage(b"still mine"))).log_index == 1
    finally:
        a.close()
        b.close()
