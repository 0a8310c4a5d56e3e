"""Recovery end to end from the chain DA backends: node A syncs life data as calldata or
blobs on anvil and anchors it; node B (another root, a backend with no locator index, so
it finds every chunk from the chain's events) recovers the agent through guardians."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_dev.anchor import deploy_agent_anchor
from anima_dev.contracts import dev_account
from anima_dev.da_chain import deploy_life_data_da, dev_chain_backend
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.recovery import (
    AnchorTarget,
    SyncState,
    anchor_address,
    recover_agent,
    sync_life_data,
)
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_verify.lifedata import ChunkCorrupt
from anima_verify.lifedata.errors import LifeDataError
from tests.dasync.rpc_proxy import lying_rpc
from tests.dasync.test_recovery import MEMORIES, POLICY, _host_entry
from tests.signer.conftest import OPEN_POLICY, open_signer

CHAIN_ID = 31337


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


@pytest.mark.parametrize("kind", ["calldata", "blobs"])
async def test_node_b_recovers_the_agent_from_the_chain(
    anvil: LocalChain, tmp_path: Path, kind: str
) -> None:
    genesis = anvil.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    target = AnchorTarget(
        chain=anvil,
        contract=deploy_agent_anchor(anvil),
        trusted_checkpoint=bytes.fromhex(str(genesis["hash"])[2:]),
    )
    da_contract = deploy_life_data_da(anvil)
    node_a = await open_signer(tmp_path / "a")
    guardian_signers = [await open_signer(tmp_path / f"g{i}") for i in range(3)]
    guardians = [g.guardian() for g in guardian_signers]
    agent = node_a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    shares = node_a.escrow_agent_root(
        "alice", guardians=[g.public_key() for g in guardians], threshold=2, policy_json=POLICY
    )
    backend_a = dev_chain_backend(anvil, da_contract, kind=kind, state_dir=tmp_path / "da-a")
    state = SyncState()
    for text, memories in (("My name is Ada", MEMORIES[:1]), ("I live in Lisbon", MEMORIES[1:])):
        node_a.append_log("alice", state.log_size, [_host_entry(text)])
        sync_life_data(
            node_a,
            "alice",
            backend=backend_a,
            state=state,
            memories=memories,
            epoch=0,
            anchor=target,
        )
    anchor_agent = anchor_address(node_a, "alice")
    node_a.close()  # node A is gone; its locator index and blob archive with it

    async def recover(name: str, rpc_url: str | None = None):  # type: ignore[no-untyped-def]
        tee = InsecureSimulatedTee(state_dir=tmp_path / name)
        node_b = await Signer.open(
            tee=tee, state_dir=tmp_path / name, log_origin_prefix="node-b.anima/agents"
        )
        backend_b = dev_chain_backend(  # read-only: node B posts nothing, trusts A's poster
            anvil,
            da_contract,
            kind=kind,
            state_dir=tmp_path / f"da-{name}",
            rpc_url=rpc_url,
            read_only_poster=dev_account(anvil),
        )
        try:
            return node_b, await recover_agent(
                node_b,
                tee,
                agent_id="alice",
                log_verifier_key=agent.log_verifier_key,
                anchor_agent=anchor_agent,
                target=target,
                backend=backend_b,
                guardians=list(zip(guardians, shares, strict=True))[1:],
            )
        except BaseException:
            node_b.close()
            raise

    # A node that garbles what it serves restores nothing: calldata garbled fails the
    # manifest's checks (or a chunk's); blobs garbled fail their KZG commitments.
    with lying_rpc(anvil.url) as proxy:
        proxy.tamper = _garble_calldata if kind == "calldata" else _garble_blobs
        with pytest.raises(LifeDataError if kind == "calldata" else ChunkCorrupt):
            await recover("liar", rpc_url=proxy.url)

    node_b, recovered = await recover("b")
    try:
        assert recovered.agent.wallets == agent.wallets
        assert recovered.memories == MEMORIES
        assert recovered.anchor.version == 2
        assert len(recovered.log_entries) == recovered.anchor.checkpoint_size
    finally:
        node_b.close()
        for g in guardian_signers:
            g.close()


def _garble_calldata(method: str, params: list[object], result: object) -> object:
    if method == "eth_getTransactionByHash" and isinstance(result, dict):
        data = bytearray.fromhex(str(result["input"])[2:])
        data[-40] ^= 0x01  # inside the posted bytes
        return {**result, "input": "0x" + data.hex()}
    return result


def _garble_blobs(method: str, params: list[object], result: object) -> object:
    if method == "anvil_getBlobByHash" and isinstance(result, str):
        blob = bytearray.fromhex(result[2:])
        blob[33] ^= 0x01
        return "0x" + blob.hex()
    return result
