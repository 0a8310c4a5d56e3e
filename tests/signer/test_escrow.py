"""Guardian escrow between real signers on the INSECURE simulated TEE: an agent's root,
split 2-of-3 to guardian signers, is rebuilt only by an attested enclave inside the
agent's policy, from enough genuine shares of one escrow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima_signer.core import Signer
from anima_signer.escrow import Guardian, RecoveringEnclave, create_escrow
from anima_signer.keys import KeyRing
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.errors import InvalidRequest
from anima_verify.attestation import MeasurementMismatch
from anima_verify.attestation.errors import InsecureEvidenceRefused, ReportDataMismatch
from anima_verify.attestation.sim import SIM_MRTD
from anima_verify.escrow import (
    BelowThreshold,
    EscrowShareRefused,
    MalformedEscrowShare,
    RecoveredRootMismatch,
)
from anima_verify.eth import eth_address
from tests.signer.conftest import OPEN_POLICY, open_signer

SIM_POLICY = json.dumps({"mrtd": [SIM_MRTD.hex()], "allow_insecure_simulated": True})
OTHER_BUILD = json.dumps({"mrtd": ["ab" * 48], "allow_insecure_simulated": True})


async def _guardians(tmp_path: Path, n: int = 3) -> list[tuple[Signer, Guardian]]:
    out = []
    for i in range(n):
        signer = await open_signer(tmp_path / f"guardian{i}")
        out.append((signer, Guardian(keyring=signer._keys)))
    return out


async def _ask(guardian: Guardian, sealed: bytes, new: RecoveringEnclave, agent: str) -> bytes:
    nonce = guardian.challenge(agent)
    evidence = await new.evidence_for(nonce)
    return guardian.release(
        sealed, agent_id=agent, recipient=new.recipient, evidence=evidence, nonce=nonce
    )


@pytest.fixture
async def escrowed(tmp_path: Path):  # type: ignore[no-untyped-def]
    node_a = await open_signer(tmp_path / "a")
    guardians = await _guardians(tmp_path)
    agent = node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    sealed = create_escrow(
        node_a._keys,
        agent_id="alice",
        guardians=[g.public_key() for _, g in guardians],
        threshold=2,
        policy_json=SIM_POLICY,
    )
    node_b = InsecureSimulatedTee(state_dir=tmp_path / "b")  # another enclave, another root
    yield agent, sealed, [g for _, g in guardians], node_b
    node_a.close()
    for signer, _ in guardians:
        signer.close()


async def test_k_guardians_rebuild_the_agent_on_a_new_enclave(escrowed) -> None:  # type: ignore[no-untyped-def]
    agent, sealed, guardians, node_b = escrowed
    new = RecoveringEnclave(tee=node_b, agent_id="alice")
    released = [await _ask(guardians[i], sealed[i], new, "alice") for i in (0, 2)]
    root = new.agent_root(released, expected_identity=agent.log_public_key)
    ring = KeyRing(root_secret=await node_b.root_secret())
    ring.use_agent_root("alice", root)
    assert eth_address(ring.wallet_key("alice", 0).public_key) == agent.wallets[0].address
    # The shares in transit are sealed: no share or root in clear.
    assert all(root not in s and root.hex().encode() not in s for s in sealed + released)


async def test_fewer_than_k_shares_restore_nothing(escrowed) -> None:  # type: ignore[no-untyped-def]
    agent, sealed, guardians, node_b = escrowed
    new = RecoveringEnclave(tee=node_b, agent_id="alice")
    one = await _ask(guardians[1], sealed[1], new, "alice")
    with pytest.raises(BelowThreshold, match="1 distinct guardian share"):
        new.agent_root([one, one], expected_identity=agent.log_public_key)
    with pytest.raises(BelowThreshold):
        new.agent_root([], expected_identity=agent.log_public_key)


async def test_an_enclave_outside_the_policy_gets_no_share(tmp_path: Path) -> None:
    node_a = await open_signer(tmp_path / "a")
    (signer, guardian), *_ = await _guardians(tmp_path, 1)
    try:
        node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        for terms, error in (
            (OTHER_BUILD, MeasurementMismatch),
            (json.dumps({"mrtd": [SIM_MRTD.hex()]}), InsecureEvidenceRefused),
        ):
            [sealed] = create_escrow(
                node_a._keys,
                agent_id="alice",
                guardians=[guardian.public_key()],
                threshold=1,
                policy_json=terms,
            )
            new = RecoveringEnclave(
                tee=InsecureSimulatedTee(state_dir=tmp_path / "b"), agent_id="alice"
            )
            with pytest.raises(error):
                await _ask(guardian, sealed, new, "alice")
    finally:
        node_a.close()
        signer.close()


async def test_evidence_must_bind_the_recipient_and_a_fresh_nonce(escrowed) -> None:  # type: ignore[no-untyped-def]
    _, sealed, guardians, node_b = escrowed
    new = RecoveringEnclave(tee=node_b, agent_id="alice")
    thief = RecoveringEnclave(tee=node_b, agent_id="alice")
    nonce = guardians[0].challenge("alice")
    evidence = await new.evidence_for(nonce)
    # The host swaps in its own recipient key: the evidence does not bind it.
    with pytest.raises(ReportDataMismatch):
        guardians[0].release(
            sealed[0], agent_id="alice", recipient=thief.recipient, evidence=evidence, nonce=nonce
        )
    # The nonce was used up by that try; a replay of the same evidence is refused.
    with pytest.raises(EscrowShareRefused, match="fresh challenge"):
        guardians[0].release(
            sealed[0], agent_id="alice", recipient=new.recipient, evidence=evidence, nonce=nonce
        )
    # A nonce issued for another agent is no use for this one.
    other = guardians[0].challenge("bobby")
    with pytest.raises(EscrowShareRefused):
        guardians[0].release(
            sealed[0], agent_id="alice", recipient=new.recipient, evidence=evidence, nonce=other
        )


async def test_shares_sealed_elsewhere_or_altered_are_refused(escrowed) -> None:  # type: ignore[no-untyped-def]
    agent, sealed, guardians, node_b = escrowed
    new = RecoveringEnclave(tee=node_b, agent_id="alice")
    # Guardian 1 cannot open guardian 0's share.
    with pytest.raises(EscrowShareRefused, match="does not open"):
        await _ask(guardians[1], sealed[0], new, "alice")
    # A share asked for under another agent's name does not open (HPKE info binds it).
    with pytest.raises(EscrowShareRefused):
        await _ask(guardians[0], sealed[0], new, "bobby")
    altered = bytearray(sealed[0])
    altered[-1] ^= 1
    with pytest.raises(EscrowShareRefused):
        await _ask(guardians[0], bytes(altered), new, "alice")
    # A released share is sealed to the requesting enclave only.
    released = await _ask(guardians[0], sealed[0], new, "alice")
    other = RecoveringEnclave(tee=node_b, agent_id="alice")
    with pytest.raises(EscrowShareRefused):
        other.agent_root([released, released], expected_identity=agent.log_public_key)


async def test_shares_of_two_escrows_never_mix(escrowed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, sealed, guardians, node_b = escrowed
    node_a = await open_signer(tmp_path / "a2")
    try:
        node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)  # another alice
        foreign = create_escrow(
            node_a._keys,
            agent_id="alice",
            guardians=[g.public_key() for g in guardians],
            threshold=2,
            policy_json=SIM_POLICY,
        )
        new = RecoveringEnclave(tee=node_b, agent_id="alice")
        mixed = [
            await _ask(guardians[0], sealed[0], new, "alice"),
            await _ask(guardians[1], foreign[1], new, "alice"),
        ]
        with pytest.raises(EscrowShareRefused, match="different escrows"):
            new.agent_root(mixed, expected_identity=agent.log_public_key)
        # A complete foreign escrow rebuilds the other alice, not ours.
        theirs = [await _ask(guardians[i], foreign[i], new, "alice") for i in (0, 1)]
        with pytest.raises(RecoveredRootMismatch):
            new.agent_root(theirs, expected_identity=agent.log_public_key)
    finally:
        node_a.close()


async def test_escrow_terms_are_checked_before_anything_is_sealed(escrowed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, guardians, _ = escrowed
    node = await open_signer(tmp_path / "c")
    try:
        node.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        keys = [g.public_key() for g in guardians]
        with pytest.raises(InvalidRequest):
            create_escrow(
                node._keys, agent_id="alice", guardians=keys, threshold=4, policy_json=SIM_POLICY
            )
        with pytest.raises(InvalidRequest, match="one share"):
            create_escrow(
                node._keys,
                agent_id="alice",
                guardians=keys[:1] * 2,
                threshold=1,
                policy_json=SIM_POLICY,
            )
        from anima_verify.attestation import MalformedMeasurementPolicy

        with pytest.raises(MalformedMeasurementPolicy):
            create_escrow(
                node._keys, agent_id="alice", guardians=keys, threshold=2, policy_json="{}x"
            )
    finally:
        node.close()


def test_share_documents_are_parsed_strictly() -> None:
    from anima_verify.escrow import EscrowShare

    for data in (b"", b"[]", b'{"v":1}', b"\xff", json.dumps({"v": 2}).encode()):
        with pytest.raises(MalformedEscrowShare):
            EscrowShare.from_bytes(data)
