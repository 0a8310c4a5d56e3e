"""Key derivation: per-agent isolation, stability across restarts, no key material out."""

from __future__ import annotations

from pathlib import Path

import coincurve
import pytest

from anima_signer.core import Signer
from anima_signer.keys import KeyRing, derivation_label
from anima_signer_api.errors import AgentExists, InvalidRequest, UnknownAgent
from anima_verify.eth import eth_address
from anima_verify.tlog.note import key_id
from tests.signer.conftest import OPEN_POLICY, open_signer


async def test_agent_keys_survive_a_restart(tmp_path: Path) -> None:
    first = await open_signer(tmp_path)
    created = first.create_agent(agent_id="alice", wallet_count=3, policy=OPEN_POLICY)
    first.close()

    second = await open_signer(tmp_path)
    try:
        assert second.get_agent("alice") == created
    finally:
        second.close()


async def test_two_agents_never_share_a_key(signer: Signer) -> None:
    a = signer.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)
    b = signer.create_agent(agent_id="bobby", wallet_count=2, policy=OPEN_POLICY)
    public = [w.public_key for w in a.wallets + b.wallets]
    public += [a.log_public_key, b.log_public_key, a.signing_public_key, b.signing_public_key]
    assert len(set(public)) == len(public)


async def test_a_different_root_gives_different_keys(tmp_path: Path) -> None:
    one = await open_signer(tmp_path / "one")
    two = await open_signer(tmp_path / "two")
    try:
        a = one.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        b = two.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        assert a.wallets[0].address != b.wallets[0].address
    finally:
        one.close()
        two.close()


def test_wallet_address_matches_its_public_key() -> None:
    ring = KeyRing(root_secret=bytes(range(32)))
    key = ring.wallet_key("alice", 0)
    public = coincurve.PublicKey(key.public_key.format())
    assert eth_address(public) == eth_address(key.public_key)
    assert eth_address(public).startswith("0x") and len(eth_address(public)) == 42


def test_labels_are_versioned_and_distinct() -> None:
    labels = {
        derivation_label("alice", "wallet/secp256k1", 0),
        derivation_label("alice", "wallet/secp256k1", 1),
        derivation_label("alice", "log/ed25519"),
        derivation_label("alicf", "log/ed25519"),
    }
    assert len(labels) == 4
    assert all(label.startswith(b"anima/v1/agent/") for label in labels)


async def test_log_key_is_a_c2sp_verifier_key(signer: Signer) -> None:
    agent = signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    name, kid, encoded = agent.log_verifier_key.split("+", 2)
    assert name == "test.anima/agents/alice"
    assert kid == key_id(name, agent.log_public_key).hex()
    import base64

    assert base64.b64decode(encoded) == b"\x01" + agent.log_public_key


@pytest.mark.parametrize("bad_id", ["", "ab", "Alice", "a/b", "a" * 65, "-lead", "x y"])
async def test_invalid_agent_ids_are_refused(signer: Signer, bad_id: str) -> None:
    with pytest.raises(InvalidRequest, match="agent_id"):
        signer.create_agent(agent_id=bad_id, wallet_count=1, policy=OPEN_POLICY)
    assert signer.list_agents() == []


async def test_duplicate_agent_is_refused_and_keeps_the_first(signer: Signer) -> None:
    first = signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    with pytest.raises(AgentExists):
        signer.create_agent(agent_id="alice", wallet_count=4, policy=OPEN_POLICY)
    assert signer.get_agent("alice") == first


@pytest.mark.parametrize("count", [0, 17])
async def test_wallet_count_is_bounded(signer: Signer, count: int) -> None:
    with pytest.raises(InvalidRequest, match="wallet_count"):
        signer.create_agent(agent_id="alice", wallet_count=count, policy=OPEN_POLICY)


async def test_unknown_agent(signer: Signer) -> None:
    with pytest.raises(UnknownAgent, match="nobody"):
        signer.get_agent("nobody")


async def test_sim_root_file_is_private(tmp_path: Path) -> None:
    s = await open_signer(tmp_path)
    s.close()
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("insecure-sim-*")}
    assert modes and all(mode == 0o600 for mode in modes.values())


async def test_sim_refuses_a_world_readable_root(tmp_path: Path) -> None:
    from anima_signer_api.errors import SignerMisconfigured

    (await open_signer(tmp_path)).close()
    (tmp_path / "insecure-sim-root.key").chmod(0o644)
    with pytest.raises(SignerMisconfigured, match="readable by others"):
        await open_signer(tmp_path)


def test_agent_type_has_no_private_fields() -> None:
    from dataclasses import fields

    from anima_signer_api.types import Agent, Wallet

    names = {f.name for f in fields(Agent)} | {f.name for f in fields(Wallet)}
    assert not any("private" in n or "secret" in n or "seed" in n for n in names)
