"""Sync, guardian escrow and restore through real signer processes' gRPC APIs (four
signers on loopback, the INSECURE simulated TEE): node A syncs and escrows to three
guardians; node B recovers through two of them. Each RPC's bad input is refused with
a specific error and leaves node B without the agent."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anima.signer.v1 import signer_pb2 as pb
from anima_core.auth import token_digest
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.recover import GuardianHold, recover_agent
from anima_dasync.sync import SyncState, sync_agent
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import (
    InvalidRequest,
    SignerMisconfigured,
    SignerRpcError,
    UnknownAgent,
)
from anima_signer_api.types import LogEntryInput
from anima_verify.attestation.evidence import Evidence
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.lifedata import AnchorState, ChunkRef, parse_signed_manifest
from anima_verify.tlog.entry import EntryKind
from tests.signer.conftest import OPEN_POLICY, SIM_TRUST

TOKENS = {
    "admin": "admin-token-for-recovery-tests",
    "runtime": "runtime-token-for-recovery-tests",
    "dasync": "dasync-token-for-recovery-tests",
    "recovery": "recovery-token-for-recovery-tests",
}
SIM_POLICY = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
AGENT = "alice"


@dataclass
class Node:
    running: RunningSigner
    address: str

    async def client(self, role: str) -> SignerClient:
        return await SignerClient.connect_attested(
            address=self.address, token=TOKENS[role], policy=SIM_TRUST
        )


async def _start(state_dir: Path, **overrides: object) -> Node:
    config = SignerConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "state_dir": state_dir,
            "tee": "sim",
            "callers": {name: token_digest(t) for name, t in TOKENS.items()},
            "log_origin_prefix": "test.anima/agents",
            **overrides,
        }
    )
    running = await start_signer(config)
    return Node(running=running, address=f"127.0.0.1:{running.port}")


@dataclass
class World:
    a: Node
    b: Node
    guardians: list[Node]
    backend: LocalDirectoryBackend
    shares: list[bytes]
    anchored: AnchorState
    log_verifier_key: str
    wallet: str
    log_size: int
    log_entries: list[bytes]


def _entry(n: int) -> LogEntryInput:
    return LogEntryInput(
        kind=EntryKind.MESSAGE_IN,
        actor="user",
        room="r",
        payload_sha256=bytes([n]) * 32,
        payload_size=n,
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    nodes = [await _start(tmp_path / name) for name in ("a", "b", "g1", "g2", "g3")]
    a, b, *guardians = nodes
    try:
        async with await a.client("admin") as admin, await a.client("runtime") as runtime:
            agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
            keys = []
            for g in guardians:
                async with await g.client("recovery") as gc:
                    keys.append(await gc.guardian_key())
            shares = await admin.escrow_agent_root(
                AGENT, guardian_keys=keys, threshold=2, policy_json=SIM_POLICY
            )
            result = await runtime.append_log(AGENT, 0, [_entry(i) for i in range(1, 4)])
        backend = LocalDirectoryBackend(root=tmp_path / "da")
        memories = json.dumps([{"text": "I live in the Anima devstack"}]).encode()
        async with await a.client("dasync") as dasync:
            anchored = await sync_agent(
                dasync,
                AGENT,
                backend=backend,
                state=SyncState(),
                epoch=0,
                log_entries=[e.entry for e in result.entries],
                checkpoint=result.checkpoint,
                parts=[("memories", memories, 1)],
            )
        yield World(
            a=a,
            b=b,
            guardians=guardians,
            backend=backend,
            shares=shares,
            anchored=anchored,
            log_verifier_key=agent.log_verifier_key,
            wallet=agent.wallets[0].address,
            log_size=result.size,
            log_entries=[e.entry for e in result.entries],
        )
    finally:
        for node in nodes:
            await node.running.stop(grace=0.2)


async def _holds(w: World, which: list[int]) -> list[GuardianHold]:
    return [
        GuardianHold(client=await w.guardians[i].client("recovery"), sealed_share=w.shares[i])
        for i in which
    ]


async def test_node_b_recovers_the_agent_through_two_of_three_guardians(world: World) -> None:
    w = world
    async with await w.b.client("recovery") as new:
        restored = await recover_agent(
            new,
            await _holds(w, [0, 2]),
            agent_id=AGENT,
            log_verifier_key=w.log_verifier_key,
            backend=w.backend,
            anchored=w.anchored,
        )
    assert restored.agent.wallets[0].address == w.wallet
    assert restored.agent.log_verifier_key == w.log_verifier_key
    # The host's parts, then the restored log (which node B's runtime must store).
    assert [(k, json.loads(p), n) for k, p, n in restored.parts] == [
        ("memories", [{"text": "I live in the Anima devstack"}], 1),
        ("log", [e.hex() for e in w.log_entries], w.log_size),
    ]
    async with await w.b.client("runtime") as runtime:
        after = await runtime.append_log(AGENT, w.log_size, [_entry(9)])
    # The log continues from the anchored checkpoint: the handover entry, then the new one.
    assert after.size == w.log_size + 2


async def test_the_runtime_token_may_not_restore_or_seal(world: World) -> None:
    w = world
    async with await w.b.client("runtime") as runtime:
        with pytest.raises(SignerRpcError) as info:
            await runtime.begin_recovery(AGENT, nonces=[bytes(32)])
        assert info.value.code == "PERMISSION_DENIED"
        with pytest.raises(SignerRpcError) as info:
            await runtime.restore_agent(
                AGENT,
                log_verifier_key=w.log_verifier_key,
                signed_manifest=b"{}",
                chunks=[],
                released_shares=[],
                anchor=w.anchored,
            )
        assert info.value.code == "PERMISSION_DENIED"
    async with await w.a.client("runtime") as runtime:
        with pytest.raises(SignerRpcError) as info:
            await runtime.seal_life_data(AGENT, epoch=0)
        assert info.value.code == "PERMISSION_DENIED"
    async with await w.a.client("dasync") as dasync:  # DA sync seals, it never restores
        with pytest.raises(SignerRpcError) as info:
            await dasync.begin_recovery(AGENT, nonces=[bytes(32)])
        assert info.value.code == "PERMISSION_DENIED"


async def test_the_host_cannot_supply_the_signer_state(world: World) -> None:
    async with await world.a.client("dasync") as dasync:
        with pytest.raises(InvalidRequest, match="signer-state"):
            await dasync.seal_life_data(AGENT, epoch=0, parts=[("signer-state", b"{}", 1)])


async def test_a_guardian_refuses_forged_or_replayed_evidence(world: World) -> None:
    w = world
    hold = (await _holds(w, [0]))[0]
    forge_quote = "forged"
    async with await w.b.client("recovery") as new:
        for attack in (forge_quote, "another nonce", "another recipient"):
            nonce = await hold.client.guardian_challenge(AGENT)
            recipient, [evidence] = await new.begin_recovery(AGENT, nonces=[nonce])
            asked: dict[str, Any] = {"evidence": evidence, "nonce": nonce, "recipient": recipient}
            if attack == forge_quote:
                asked["evidence"] = Evidence(tee=evidence.tee, quote=evidence.quote[:-1] + b"\0")
            elif attack == "another nonce":  # evidence made for a challenge of its own
                asked["nonce"] = await hold.client.guardian_challenge(AGENT)
            else:  # the host swaps in its own key to receive the share
                asked["recipient"] = bytes(range(32))
            with pytest.raises(SignerRpcError) as info:
                await hold.client.release_share(AGENT, sealed_share=hold.sealed_share, **asked)
            assert info.value.code == "PERMISSION_DENIED", attack
        # A refusal uses up its challenge: the genuine evidence for it is now a replay.
        with pytest.raises(SignerRpcError, match="already used") as info:
            await hold.client.release_share(
                AGENT,
                sealed_share=hold.sealed_share,
                recipient=recipient,
                evidence=evidence,
                nonce=nonce,
            )
        assert info.value.code == "FAILED_PRECONDITION"
        # A share sealed to another guardian does not open here.
        nonce = await hold.client.guardian_challenge(AGENT)
        recipient, [evidence] = await new.begin_recovery(AGENT, nonces=[nonce])
        with pytest.raises(SignerRpcError) as info:
            await hold.client.release_share(
                AGENT,
                sealed_share=w.shares[1],
                recipient=recipient,
                evidence=evidence,
                nonce=nonce,
            )
        assert info.value.code == "FAILED_PRECONDITION"
    await hold.client.close()


async def test_a_corrupt_chunk_or_unanchored_manifest_restores_nothing(world: World) -> None:
    w = world
    signed = w.backend.get_manifest(AGENT, w.anchored.version)
    refs = parse_signed_manifest(signed).manifest.chunks
    chunks = [(ref, w.backend.get_chunk(ref.chunk_id)) for ref in refs]
    holds = await _holds(w, [1, 2])
    async with await w.b.client("recovery") as new:
        nonces = [await h.client.guardian_challenge(AGENT) for h in holds]
        recipient, evidence = await new.begin_recovery(AGENT, nonces=nonces)
        released = [
            await h.client.release_share(
                AGENT, sealed_share=h.sealed_share, recipient=recipient, evidence=e, nonce=n
            )
            for h, e, n in zip(holds, evidence, nonces, strict=True)
        ]
        corrupt: list[tuple[ChunkRef, bytes]] = [
            (chunks[0][0], chunks[0][1][:-1] + bytes([chunks[0][1][-1] ^ 1])),
            *chunks[1:],
        ]
        good = dict(
            log_verifier_key=w.log_verifier_key,
            signed_manifest=signed,
            chunks=chunks,
            released_shares=released,
            anchor=w.anchored,
        )
        attacks: list[tuple[dict[str, object], str]] = [
            ({"chunks": corrupt}, "FAILED_PRECONDITION"),
            ({"chunks": chunks[1:]}, "NOT_FOUND"),  # a chunk left out
            (
                {"anchor": dataclasses.replace(w.anchored, manifest_hash=bytes(32))},
                "FAILED_PRECONDITION",
            ),
            ({"released_shares": released[:1]}, "FAILED_PRECONDITION"),  # below threshold
            ({"signed_manifest": signed[:-2]}, "INVALID_ARGUMENT"),
            ({"log_verifier_key": "not-a-key"}, "INVALID_ARGUMENT"),
        ]
        async with await w.b.client("admin") as admin:
            for change, code in attacks:
                with pytest.raises(SignerRpcError) as info:
                    await new.restore_agent(AGENT, **{**good, **change})  # type: ignore[arg-type]
                assert info.value.code == code, sorted(change)
                with pytest.raises(UnknownAgent):  # nothing was restored
                    await admin.get_agent(AGENT)
        # The same shares still restore with the genuine data: the refusals changed nothing.
        restored = await new.restore_agent(AGENT, **good)  # type: ignore[arg-type]
    assert restored.agent.wallets[0].address == w.wallet
    for h in holds:
        await h.client.close()


def test_the_anchor_source_is_both_settings_or_neither(tmp_path: Path) -> None:
    base = {"state_dir": tmp_path, "callers": {"admin": token_digest("x")}}
    assert SignerConfig.model_validate(base).anchor_source() is None
    for half in ({"anchor_contract": "0x" + "11" * 20}, {"anchor_trusted_block": "0x" + "22" * 32}):
        with pytest.raises(SignerMisconfigured, match="go together"):
            SignerConfig.model_validate({**base, **half}).check_startable()
    source = SignerConfig.model_validate(
        {**base, "anchor_contract": "0x" + "11" * 20, "anchor_trusted_block": "0x" + "22" * 32}
    ).anchor_source()
    assert source is not None and source.contract == bytes([0x11]) * 20


async def test_each_rpc_names_what_is_wrong_with_its_input(world: World) -> None:
    w = world
    async with await w.a.client("dasync") as dasync:
        manifest = parse_signed_manifest(w.backend.get_manifest(AGENT, 1)).manifest
        with pytest.raises(SignerRpcError, match="not in canonical form") as info:
            await dasync._unary(  # bytes that are not a canonical manifest
                "SignLifeManifest",
                lambda stub: stub.SignLifeManifest(
                    pb.SignLifeManifestRequest(manifest=manifest.to_bytes() + b" "),
                    **dasync._call_options(),
                ),
                repeatable=True,
            )
        assert info.value.code == "INVALID_ARGUMENT"
        with pytest.raises(InvalidRequest, match="20-byte"):
            await dasync.sign_anchor_update(AGENT, state=w.anchored, chain_id=1, contract=b"x")
        with pytest.raises(UnknownAgent):
            await dasync.seal_life_data("nobody", epoch=0)
    async with await w.a.client("admin") as admin:
        with pytest.raises(InvalidRequest, match="32-byte"):
            await admin.escrow_agent_root(
                AGENT, guardian_keys=[b"short"], threshold=1, policy_json=SIM_POLICY
            )
        async with await w.guardians[0].client("recovery") as g:
            key = await g.guardian_key()
        with pytest.raises(InvalidRequest, match="threshold"):
            await admin.escrow_agent_root(
                AGENT, guardian_keys=[key], threshold=2, policy_json=SIM_POLICY
            )
    async with await w.guardians[0].client("recovery") as g:
        with pytest.raises(InvalidRequest, match="agent_id"):
            await g.guardian_challenge("")
    async with await w.b.client("recovery") as new:
        with pytest.raises(InvalidRequest, match="BeginRecovery first"):
            await new.restore_agent(
                AGENT,
                log_verifier_key=w.log_verifier_key,
                signed_manifest=b"{}",
                chunks=[],
                released_shares=[],
                anchor=w.anchored,
            )
    stranger = await SignerClient.connect_attested(
        address=w.b.address, token="not-a-known-token", policy=SIM_TRUST
    )
    async with stranger:
        with pytest.raises(SignerRpcError) as info:
            await stranger.begin_recovery(AGENT, nonces=[bytes(32)])
        assert info.value.code == "UNAUTHENTICATED"
