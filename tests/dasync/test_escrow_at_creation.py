"""Guardian escrow at creation: a signer configured with guardians splits every new
agent's root to them in the transaction that creates the agent (never an agent without
its shares), and a signer that takes an agent over by a restore re-escrows it to its
own guardians. Real signers on loopback (gRPC, the INSECURE simulated TEE)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.recover import GuardianHold, recover_agent
from anima_dasync.sync import SyncState, sync_agent
from anima_signer.config import EscrowSettings, SignerConfig
from anima_signer.escrow import EscrowTerms
from anima_signer_api.errors import (
    InvalidRequest,
    SignerMisconfigured,
    SignerRpcError,
    UnknownAgent,
)
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.escrow.share import public_bytes
from tests.dasync.test_recover_grpc import AGENT, SIM_POLICY, Node, _entry, _start
from tests.signer.conftest import OPEN_POLICY, open_signer


async def _guardian_keys(guardians: list[Node]) -> list[str]:
    keys = []
    for g in guardians:
        async with await g.client("recovery") as client:
            keys.append((await client.guardian_key()).hex())
    return keys


def _escrow(keys: list[str], threshold: int = 2) -> dict[str, object]:
    return {"guardian_keys": keys, "threshold": threshold, "measurement_policy": SIM_POLICY}


async def test_an_agent_is_created_with_its_shares_and_recovers_through_them(
    tmp_path: Path,
) -> None:
    guardians = [await _start(tmp_path / f"g{i}") for i in range(3)]
    nodes = list(guardians)
    try:
        keys = await _guardian_keys(guardians)
        a = await _start(tmp_path / "a", escrow=_escrow(keys))
        b = await _start(tmp_path / "b", escrow=_escrow(keys[::-1], threshold=3))
        nodes += [a, b]
        async with await a.client("admin") as admin, await a.client("runtime") as runtime:
            agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
            threshold, shares = await admin.get_escrow(AGENT)
            result = await runtime.append_log(AGENT, 0, [_entry(1)])
        assert threshold == 2 and len(shares) == 3
        backend = LocalDirectoryBackend(root=tmp_path / "da")
        async with await a.client("dasync") as dasync:
            anchored = await sync_agent(
                dasync,
                AGENT,
                backend=backend,
                state=SyncState(),
                epoch=0,
                log_entries=[e.entry for e in result.entries],
                checkpoint=result.checkpoint,
            )
        # Guardians 1 and 3 release the shares made at creation to node B's enclave.
        holds = [
            GuardianHold(client=await guardians[i].client("recovery"), sealed_share=shares[i])
            for i in (0, 2)
        ]
        async with await b.client("recovery") as new:
            restored = await recover_agent(
                new,
                holds,
                agent_id=AGENT,
                log_verifier_key=agent.log_verifier_key,
                backend=backend,
                anchored=anchored,
            )
        for hold in holds:
            await hold.client.close()
        assert restored.agent.wallets == agent.wallets
        # Node B re-escrowed the root to its own guardians (3-of-3, its order) at once.
        assert len(restored.escrow_shares) == 3
        assert set(restored.escrow_shares).isdisjoint(shares)
        async with await b.client("admin") as admin:
            assert await admin.get_escrow(AGENT) == (3, restored.escrow_shares)
    finally:
        for node in nodes:
            await node.running.stop(grace=0.2)


async def test_without_guardians_an_agent_has_no_escrow_until_the_admin_makes_one(
    tmp_path: Path,
) -> None:
    guardian = await _start(tmp_path / "g")
    node = await _start(tmp_path / "a")
    try:
        [key] = await _guardian_keys([guardian])
        async with await node.client("admin") as admin:
            await admin.create_agent(AGENT, policy=OPEN_POLICY)
            assert await admin.get_escrow(AGENT) == (0, [])
            shares = await admin.escrow_agent_root(
                AGENT, guardian_keys=[bytes.fromhex(key)], threshold=1, policy_json=SIM_POLICY
            )
            assert await admin.get_escrow(AGENT) == (1, shares)
            with pytest.raises(UnknownAgent):
                await admin.get_escrow("nobody")
        async with await node.client("runtime") as runtime:
            with pytest.raises(SignerRpcError, match="PERMISSION_DENIED"):
                await runtime.get_escrow(AGENT)
    finally:
        await node.running.stop(grace=0.2)
        await guardian.running.stop(grace=0.2)


async def test_an_escrow_that_fails_creates_no_agent(tmp_path: Path) -> None:
    signer = await open_signer(tmp_path / "a")
    guardian = await open_signer(tmp_path / "g")
    try:
        key = guardian.guardian().public_key()
        signer.use_escrow(EscrowTerms(guardians=(key,), threshold=2, policy_json=SIM_POLICY))
        with pytest.raises(InvalidRequest, match="threshold"):
            signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        with pytest.raises(UnknownAgent):
            signer.get_agent(AGENT)
        assert signer.list_agents() == []
        # With terms that work, the same agent is created, with its one share.
        signer.use_escrow(EscrowTerms(guardians=(key,), threshold=1, policy_json=SIM_POLICY))
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        threshold, [share] = signer.latest_escrow(AGENT)
        assert threshold == 1 and public_bytes(key) not in share  # sealed, not the key
    finally:
        signer.close()
        guardian.close()


KEY = "11" * 32


@pytest.mark.parametrize(
    ("escrow", "says"),
    [
        ({"guardian_keys": [KEY], "threshold": 0}, "threshold must be between 1 and the 1"),
        ({"guardian_keys": [KEY, "22" * 32], "threshold": 3}, "between 1 and the 2"),
        ({"guardian_keys": [KEY, KEY.upper()], "threshold": 1}, "one share only"),
        ({"guardian_keys": ["11" * 31], "threshold": 1}, "not 32 bytes of hex"),
        ({"guardian_keys": ["zz" * 32], "threshold": 1}, "not 32 bytes of hex"),
        ({"guardian_keys": [], "threshold": 1}, "between 1 and the 0"),
        (
            {"guardian_keys": [KEY], "threshold": 1, "measurement_policy": "{"},
            "measurement_policy: measurement policy is not JSON",
        ),
        (
            {"guardian_keys": [KEY], "threshold": 1, "measurement_policy": '{"mrtd": 1, "x": 2}'},
            "measurement_policy",
        ),
    ],
)
def test_bad_escrow_settings_are_refused_at_load(escrow: dict[str, object], says: str) -> None:
    settings = {"measurement_policy": SIM_POLICY, **escrow}
    with pytest.raises(ValidationError, match=says):
        SignerConfig.model_validate({"callers": {}, "escrow": settings})


def test_escrow_settings_load_from_the_environment_form() -> None:
    policy = json.dumps({"mrtd": [SIM_MRTD.hex()]})
    loaded = EscrowSettings.model_validate(
        {"guardian_keys": ["0x" + KEY], "threshold": 1, "measurement_policy": policy}
    )
    assert loaded.terms().threshold == 1
    assert public_bytes(loaded.terms().guardians[0]) == bytes.fromhex(KEY)


def test_production_refuses_guardian_terms_that_accept_a_simulated_tee() -> None:
    config = SignerConfig.model_validate(
        {
            "callers": {"admin": "ab" * 32},
            "production": True,
            "tee": "dstack",
            "insecure_unwitnessed_log": True,
            "escrow": {"guardian_keys": [KEY], "threshold": 1, "measurement_policy": SIM_POLICY},
        }
    )
    with pytest.raises(SignerMisconfigured, match="simulated TEE: guardians would release"):
        config.check_startable()
