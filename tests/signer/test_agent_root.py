"""Agent roots: new agents' keys derive from a per-agent root that alone rebuilds them on
another signer; agents from before agent roots keep their addresses."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from anima_signer import core
from anima_signer.keys import KeyRing, agent_log_public_key, derivation_label
from anima_verify.eth import eth_address
from tests.signer.conftest import OPEN_POLICY, open_signer


async def test_new_agents_derive_from_an_agent_root_that_moves_alone(tmp_path: Path) -> None:
    node_a = await open_signer(tmp_path / "a")
    try:
        agent = node_a.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)
        root = node_a._keys.agent_root("alice")
    finally:
        node_a.close()
    assert agent.key_derivation_version == 2
    # Another signer root plus the agent root gives the same wallets and log key.
    node_b = KeyRing(root_secret=bytes(range(32)))
    node_b.use_agent_root("alice", root)
    assert [eth_address(node_b.wallet_key("alice", i).public_key) for i in range(2)] == [
        w.address for w in agent.wallets
    ]
    assert node_b.log_key("alice").public_key().public_bytes_raw() == agent.log_public_key
    assert agent_log_public_key("alice", root) == agent.log_public_key
    # Without it, the other signer's keys differ.
    assert eth_address(KeyRing(root_secret=bytes(range(32))).wallet_key("alice", 0).public_key) != (
        agent.wallets[0].address
    )


async def test_agents_from_before_agent_roots_keep_their_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "KEY_DERIVATION_VERSION", 1)
    first = await open_signer(tmp_path)
    legacy = first.create_agent(agent_id="oldie", wallet_count=1, policy=OPEN_POLICY)
    first.close()
    monkeypatch.undo()
    root_secret = (tmp_path / "insecure-sim-root.key").read_bytes()
    # The version-1 formula, written out: HKDF straight from the signer root.
    label = derivation_label("oldie", "wallet/secp256k1", 0) + b"\x00"
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"anima/key-derivation/v1", info=label)
    import coincurve

    expected = eth_address(coincurve.PrivateKey(hkdf.derive(root_secret)).public_key)
    second = await open_signer(tmp_path)
    try:
        assert legacy.key_derivation_version == 1
        assert second.get_agent("oldie").wallets[0].address == expected == legacy.wallets[0].address
        with pytest.raises(ValueError, match="no agent root to move"):
            second._keys.agent_root("oldie")
        fresh = second.create_agent(agent_id="newbie", wallet_count=1, policy=OPEN_POLICY)
        assert fresh.key_derivation_version == 2
    finally:
        second.close()


def test_an_agent_is_never_bound_to_two_roots() -> None:
    ring = KeyRing(root_secret=bytes(32))
    ring.use_agent_root("alice", b"\x01" * 32)
    ring.use_agent_root("alice", b"\x01" * 32)  # the same root again is fine
    with pytest.raises(ValueError, match="another agent root"):
        ring.use_agent_root("alice", b"\x02" * 32)
    ring.wallet_key("bobby", 0)
    with pytest.raises(ValueError, match="already has keys"):
        ring.use_agent_root("bobby")
    with pytest.raises(ValueError, match="32 bytes"):
        ring.use_agent_root("carol", b"short")


def test_agent_key_labels_cannot_be_asked_for_as_store_keys() -> None:
    ring = KeyRing(root_secret=bytes(32))
    for label in (
        b"anima/v1/agent/alice/x/0",
        b"anima/v2/agent/alice/x/0",
        b"anima/v2/agent-root/a",
    ):
        with pytest.raises(ValueError):
            ring.store_mac_key(label)
