"""The agent anchor on a real anvil: only the agent's anchor key moves it, only forward;
a restoring enclave reads it from a storage proof under a header chain it verified;
a recovery bumps the epoch and fences the old enclave."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_dev.anchor import deploy_agent_anchor, read_anchor, relay_update, verified_head
from anima_dev.local_chain import LocalChain, local_chain
from anima_signer.keys import KeyRing
from anima_verify.chain.errors import ChainProofError
from anima_verify.eth import eth_address
from anima_verify.lifedata import AgentFenced, SignerStateStale
from anima_verify.lifedata.anchor import (
    AnchorState,
    anchor_slots,
    check_fencing,
    sign_update,
    verify_anchor,
)
from anima_verify.lifedata.errors import AnchorNotFound

CHAIN_ID = 31337


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


def _genesis(chain: LocalChain) -> bytes:
    block = chain.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(block, dict)
    return bytes.fromhex(str(block["hash"])[2:])


def _agent(seed: int) -> tuple[KeyRing, bytes]:
    ring = KeyRing(root_secret=bytes([seed]) * 32)
    ring.use_agent_root("alice")
    key = ring.anchor_key("alice")
    return ring, bytes.fromhex(eth_address(key.public_key)[2:])


def _state(version: int, size: int, epoch: int = 0) -> AnchorState:
    return AnchorState(
        manifest_hash=bytes([version]) * 32,
        checkpoint_root=bytes([size]) * 32,
        version=version,
        checkpoint_size=size,
        epoch=epoch,
    )


def _anchor(
    chain: LocalChain, contract: bytes, ring: KeyRing, agent: bytes, state: AnchorState
) -> None:
    signature = sign_update(
        ring.anchor_key("alice"), chain_id=CHAIN_ID, contract=contract, agent=agent, state=state
    )
    relay_update(chain, contract, agent, state, signature)


def _read(chain: LocalChain, contract: bytes, agent: bytes) -> AnchorState:
    return read_anchor(chain, contract, agent, verified_head(chain, _genesis(chain)))


def test_only_the_agents_key_moves_its_anchor_and_only_forward(anvil: LocalChain) -> None:
    contract = deploy_agent_anchor(anvil)
    ring, agent = _agent(1)
    with pytest.raises(AnchorNotFound):
        _read(anvil, contract, agent)
    _anchor(anvil, contract, ring, agent, _state(1, 5))
    _anchor(anvil, contract, ring, agent, _state(2, 9))
    assert _read(anvil, contract, agent) == _state(2, 9)
    for stale in (_state(2, 9), _state(1, 5), _state(3, 4)):  # replay, rollback, shrink
        with pytest.raises(RuntimeError, match="failed"):
            _anchor(anvil, contract, ring, agent, stale)
    # Another enclave's key (another agent root) cannot write alice's anchor.
    stranger, _ = _agent(2)
    with pytest.raises(RuntimeError, match="failed"):
        _anchor(anvil, contract, stranger, agent, _state(3, 10))
    # A signature for another contract or chain does not replay here.
    signature = sign_update(
        ring.anchor_key("alice"), chain_id=1, contract=contract, agent=agent, state=_state(3, 10)
    )
    with pytest.raises(RuntimeError, match="failed"):
        relay_update(anvil, contract, agent, _state(3, 10), signature)
    # Nor does a signature made for this contract move the same agent's slot in another.
    second = deploy_agent_anchor(anvil)
    signature = sign_update(
        ring.anchor_key("alice"),
        chain_id=CHAIN_ID,
        contract=contract,
        agent=agent,
        state=_state(3, 10),
    )
    with pytest.raises(RuntimeError, match="failed"):
        relay_update(anvil, second, agent, _state(3, 10), signature)
    assert _read(anvil, contract, agent) == _state(2, 9)


def test_a_recovery_bumps_the_epoch_and_fences_the_old_enclave(anvil: LocalChain) -> None:
    contract = deploy_agent_anchor(anvil)
    node_a, agent = _agent(3)
    _anchor(anvil, contract, node_a, agent, _state(1, 4))
    check_fencing(_read(anvil, contract, agent), local_epoch=0, local_log_size=4)
    # Node B holds the same agent root (recovered from guardians) under another signer root.
    node_b = KeyRing(root_secret=bytes([9]) * 32)
    node_b.use_agent_root("alice", node_a.agent_root("alice"))
    _anchor(anvil, contract, node_b, agent, _state(2, 5, epoch=1))  # the handover
    anchored = _read(anvil, contract, agent)
    with pytest.raises(AgentFenced, match="recovered elsewhere"):
        check_fencing(anchored, local_epoch=0, local_log_size=5)
    check_fencing(anchored, local_epoch=1, local_log_size=5)
    with pytest.raises(SignerStateStale, match="older than the anchor"):
        check_fencing(anchored, local_epoch=1, local_log_size=4)
    # The old enclave cannot roll the epoch back.
    with pytest.raises(RuntimeError, match="failed"):
        _anchor(anvil, contract, node_a, agent, _state(3, 6, epoch=0))


def test_a_lying_node_cannot_feed_an_older_or_altered_anchor(anvil: LocalChain) -> None:
    contract = deploy_agent_anchor(anvil)
    ring, agent = _agent(4)
    _anchor(anvil, contract, ring, agent, _state(1, 1))
    old_head = verified_head(anvil, _genesis(anvil))
    _anchor(anvil, contract, ring, agent, _state(2, 2))
    head = verified_head(anvil, _genesis(anvil))
    slots = ["0x" + s.to_bytes(32, "big").hex() for s in anchor_slots(agent)]
    old_proof = anvil.rpc("eth_getProof", ["0x" + contract.hex(), slots, hex(old_head.number)])
    assert isinstance(old_proof, dict)
    # The old block's proof does not hold under the verified head's state root.
    with pytest.raises(ChainProofError):
        verify_anchor(head.state_root, contract=contract, agent=agent, eip1186_response=old_proof)
    proof = anvil.rpc("eth_getProof", ["0x" + contract.hex(), slots, hex(head.number)])
    assert isinstance(proof, dict)
    altered = copy.deepcopy(proof)
    altered["storageProof"][2]["value"] = hex(int(altered["storageProof"][2]["value"], 16) - 1)
    with pytest.raises(ChainProofError):
        verify_anchor(head.state_root, contract=contract, agent=agent, eip1186_response=altered)
    swapped = copy.deepcopy(proof)
    swapped["storageProof"] = swapped["storageProof"][::-1]
    with pytest.raises(ChainProofError):
        verify_anchor(head.state_root, contract=contract, agent=agent, eip1186_response=swapped)
    assert verify_anchor(
        head.state_root, contract=contract, agent=agent, eip1186_response=proof
    ) == (_state(2, 2))


def test_signer_root_agents_have_no_anchor_key(tmp_path: Path) -> None:
    ring = KeyRing(root_secret=bytes(32))
    with pytest.raises(ValueError, match="no agent root"):
        ring.anchor_key("oldie")
