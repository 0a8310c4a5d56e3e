"""The beacon light client feeds the chain client its trusted heads, end to end: a
synthetic beacon chain (tests/beacon/chain_builder, minimal preset) whose execution
payload headers carry REAL anvil blocks, served by the local beacon REST server;
the chain client behind a lying-node proxy on anvil, configured with only the
beacon URL and a weak-subjectivity root (no trusted block hash).

Reads are proven against the light-client-verified head; what the node serves
above it is not trusted; a node that forges the verified head's ancestry or cannot
produce the verified block is refused; a forged beacon update leaves the head.

anvil keeps no historical state tries (eth_getProof at an older block answers with
the latest state's proof, and is refused), so balances are read at anvil's latest
block, which each test makes the verified head."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anima_chain.app import RunningChain, start_chain
from anima_chain.beacon import BeaconHeads
from anima_chain.config import ChainConfig
from anima_chain_api.client import ChainClient
from anima_chain_api.errors import BlockNotVerified, UnverifiableHeader
from anima_core.auth import token_digest
from anima_dev.contracts import set_balance
from anima_dev.local_chain import LocalChain, local_chain
from anima_signer_api.client import SignerClient
from anima_verify.beacon.config import MINIMAL_PRESET
from anima_verify.beacon.config import ChainConfig as BeaconChain
from anima_verify.chain.header import parse_header
from tests.beacon.beacon_api_server import BeaconData, serve_beacon_api
from tests.beacon.chain_builder import SyntheticChain
from tests.chain.client.conftest import (
    CHAIN_ID,
    CHAIN_TOKEN,
    ETH,
    signer_client,
    start_test_signer,
)
from tests.chain.client.lying_node import LyingNode

WALLET = bytes.fromhex("00000000000000000000000000000000000be4c0")
SLOTS_PER_PERIOD = MINIMAL_PRESET.slots_per_period
BOOTSTRAP_SLOT = 8
PERIODS = 4
LAST = (PERIODS - 1) * SLOTS_PER_PERIOD
FINALIZED_SLOT, ATTESTED_SLOT, OPTIMISTIC_SLOT, NEXT_SLOT = (
    LAST + 40,
    LAST + 50,
    LAST + 55,
    LAST + 57,
)
NOW_SLOT = LAST + 60  # the beacon chain's clock when the test starts (genesis set from it)
GENESIS_ROOT = "0x" + "11" * 32
FORKS = {  # consensus config.yaml keys, as the chain client's config takes them
    "PRESET_BASE": "minimal",
    "GENESIS_FORK_VERSION": "0x00000009",
    **{
        f"{f}_FORK_VERSION": f"0x0{i}000009"
        for i, f in enumerate(("ALTAIR", "BELLATRIX", "CAPELLA", "DENEB"), start=1)
    },
    **{f"{f}_FORK_EPOCH": 0 for f in ("ALTAIR", "BELLATRIX", "CAPELLA", "DENEB")},
    "ELECTRA_FORK_VERSION": "0x05000009",
    "ELECTRA_FORK_EPOCH": 16,
    "SECONDS_PER_SLOT": 6,
}


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


def block(chain: LocalChain, number: int) -> dict[str, str]:
    found = chain.rpc("eth_getBlockByNumber", [hex(number), False])
    assert isinstance(found, dict)
    return found


def latest(chain: LocalChain) -> int:
    return int(str(chain.rpc("eth_blockNumber")), 16)


@dataclass
class BeaconStack:
    anvil: LocalChain
    beacon: SyntheticChain
    data: BeaconData
    node: LyingNode
    running: RunningChain
    client: ChainClient
    verified: int  # the anvil block number of the optimistic (followed) head
    config: ChainConfig
    signer: SignerClient

    @property
    def heads(self) -> BeaconHeads:
        assert self.running.beacon is not None
        return self.running.beacon


def beacon_chain(genesis_time: int) -> SyntheticChain:
    config = BeaconChain.from_spec_config(
        {**FORKS, "MIN_GENESIS_TIME": genesis_time},
        genesis_validators_root=bytes.fromhex(GENESIS_ROOT[2:]),
        name="custom",
    )
    return SyntheticChain(config)


@pytest.fixture
async def beacon_stack(tmp_path: Path, anvil: LocalChain) -> AsyncIterator[BeaconStack]:
    # Real blocks first: the wallet's 5 ETH is in the block the beacon chain will point at.
    for _ in range(3):
        anvil.rpc("evm_mine")
    set_balance(anvil, WALLET, 5 * ETH)
    verified = latest(anvil)
    genesis = int(time.time()) - NOW_SLOT * 6
    beacon = beacon_chain(genesis)
    beacon.execution_blocks.update(
        {
            FINALIZED_SLOT: block(anvil, verified - 2),
            ATTESTED_SLOT: block(anvil, verified - 1),
            OPTIMISTIC_SLOT: block(anvil, verified),
        }
    )
    bootstrap, root = beacon.bootstrap(BOOTSTRAP_SLOT)
    data = BeaconData(beacon.config, bootstraps={root: bootstrap})
    for period in range(PERIODS):
        data.updates[period] = beacon.period_update(period)
    data.finality_update = beacon.update(FINALIZED_SLOT, ATTESTED_SLOT, kind="finality_update")
    data.optimistic_update = beacon.update(0, OPTIMISTIC_SLOT, kind="optimistic_update")

    signer_running = await start_test_signer(tmp_path)
    signer = await signer_client(signer_running, "runtime")
    node = await LyingNode(anvil.url).start()
    with serve_beacon_api(data) as beacon_url:
        config = ChainConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "data_dir": tmp_path / "chain",
                "callers": {"runtime": token_digest(CHAIN_TOKEN)},
                "chain_id": CHAIN_ID,
                "rpc": {"url": node.url, "timeout_s": 2.0, "max_retries": 0},
                "beacon": {
                    "url": beacon_url,
                    "checkpoint": "0x" + root.hex(),
                    "network": "custom",
                    "spec_config": {**FORKS, "MIN_GENESIS_TIME": genesis},
                    "genesis_validators_root": GENESIS_ROOT,
                    "poll_s": 0,
                },
            }
        )
        running = await start_chain(config, signer=signer)
        client = ChainClient.connect(
            f"127.0.0.1:{running.port}", CHAIN_TOKEN, certificate_pem=running.certificate_pem
        )
        try:
            yield BeaconStack(anvil, beacon, data, node, running, client, verified, config, signer)
        finally:
            await client.close()
            await running.stop(grace=0.2)
            await node.stop()
            await signer.close()
            await signer_running.stop(grace=0.2)


def advance(stack: BeaconStack, *, signers: list[int] | None = None) -> int:
    """Give the wallet 7 ETH and mine another block, and have the beacon node serve an
    optimistic update pointing at it (signed by `signers`' keys over the committee bits
    of all members, if given)."""
    set_balance(stack.anvil, WALLET, 7 * ETH)
    stack.anvil.rpc("evm_mine")
    number = latest(stack.anvil)
    stack.beacon.execution_blocks[NEXT_SLOT] = block(stack.anvil, number)
    update = stack.beacon.update(0, NEXT_SLOT, kind="optimistic_update")
    if signers is not None:  # a forged aggregate: bits of everyone, signature of a few
        forged = stack.beacon.update(0, NEXT_SLOT, kind="optimistic_update", signers=signers)
        update.sync_aggregate.sync_committee_signature = (
            forged.sync_aggregate.sync_committee_signature
        )
    stack.data.optimistic_update = update
    return number


async def test_reads_are_proven_at_the_light_client_verified_head(
    beacon_stack: BeaconStack,
) -> None:
    stack = beacon_stack
    head = await stack.client.head()
    assert head.block.number == stack.verified
    assert head.block.hash.hex() == block(stack.anvil, stack.verified)["hash"][2:]
    assert head.checkpoint_hash == head.block.hash  # the first verified head, not a config value
    account = await stack.client.account(WALLET)
    assert (account.balance, account.block.number) == (5 * ETH, stack.verified)
    assert stack.heads.last_refusal is None


async def test_the_head_moves_only_with_the_light_client(beacon_stack: BeaconStack) -> None:
    stack = beacon_stack
    number = advance(stack)
    account = await stack.client.account(WALLET)
    assert (account.balance, account.block.number) == (7 * ETH, number)
    # The new verified head is two blocks up; the one between is proven as its parent.
    headers = stack.running.service.headers
    assert headers.at(number - 1).hash.hex() == block(stack.anvil, number - 1)["hash"][2:]
    assert headers.at(stack.verified).hash.hex() == block(stack.anvil, stack.verified)["hash"][2:]


async def test_a_forged_beacon_update_leaves_the_trusted_head(beacon_stack: BeaconStack) -> None:
    stack = beacon_stack
    number = advance(stack, signers=[0, 1])  # the bits say all 32 signed; two did
    head = await stack.client.head()
    assert head.block.number == stack.verified
    assert stack.heads.last_refusal == "INVALID_SYNC_COMMITTEE_SIGNATURE"
    # The honest update for the same block moves it.
    stack.data.optimistic_update = stack.beacon.update(0, NEXT_SLOT, kind="optimistic_update")
    account = await stack.client.account(WALLET)
    assert (account.balance, account.block.number) == (7 * ETH, number)
    assert stack.heads.last_refusal is None


async def test_a_node_without_the_verified_block_is_refused(beacon_stack: BeaconStack) -> None:
    stack = beacon_stack
    number = advance(stack)

    def forget(method: str, params: list[Any], result: Any) -> Any:
        return None if method == "eth_getBlockByHash" else result

    stack.node.tamper = forget
    with pytest.raises(UnverifiableHeader) as refused:
        await stack.client.account(WALLET)
    assert refused.value.check == "VERIFIED_HEAD_UNAVAILABLE"
    assert f"({number})" in refused.value.message
    assert stack.running.service.headers.head.number == stack.verified
    stack.node.tamper = None
    assert (await stack.client.account(WALLET)).block.number == number


async def test_a_forged_ancestor_of_the_verified_head_is_refused(
    beacon_stack: BeaconStack,
) -> None:
    stack = beacon_stack
    number = advance(stack)

    def forge(method: str, params: list[Any], result: Any) -> Any:
        # The block between the old and the new verified head, from a branch the node
        # invented (another state root): not the parent the verified head names.
        if method == "eth_getBlockByNumber" and params[0] == hex(number - 1):
            return {**result, "stateRoot": "0x" + "ab" * 32}
        return result

    stack.node.tamper = forge
    with pytest.raises(UnverifiableHeader) as refused:
        await stack.client.account(WALLET)
    assert "ancestry" in refused.value.message
    head = stack.running.service.headers.head
    assert (head.number, head.hash.hex()) == (
        stack.verified,
        block(stack.anvil, stack.verified)["hash"][2:],
    )
    stack.node.tamper = None
    assert (await stack.client.account(WALLET)).block.number == number


async def test_a_forged_branch_above_the_verified_head_is_not_followed(
    beacon_stack: BeaconStack,
) -> None:
    """The node claims a longer chain and serves its blocks (hash-linked to the real
    head, as a checkpoint-only client would accept); the beacon has signed none of
    them, so the head stays and they are not readable."""
    stack = beacon_stack
    forged: dict[int, dict[str, str]] = {}
    parent = block(stack.anvil, stack.verified)
    for number in range(stack.verified + 1, stack.verified + 4):
        forged[number] = invented_child(parent)
        parent = forged[number]

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_blockNumber":
            return hex(max(forged))
        if method == "eth_getBlockByNumber" and int(params[0], 16) in forged:
            return forged[int(params[0], 16)]
        return result

    stack.node.tamper = lie
    account = await stack.client.account(WALLET)
    assert (account.balance, account.block.number) == (5 * ETH, stack.verified)
    with pytest.raises(BlockNotVerified):
        await stack.client.account(WALLET, block_number=stack.verified + 1)
    assert stack.running.service.headers.head.number == stack.verified


def invented_child(parent: dict[str, str]) -> dict[str, str]:
    """A block the node made up on top of `parent`: linked by parentHash, its own hash
    computed as a real header's would be."""
    child = {
        **parent,
        "parentHash": parent["hash"],
        "number": hex(int(parent["number"], 16) + 1),
        "stateRoot": "0x" + "ef" * 32,
        "timestamp": hex(int(parent["timestamp"], 16) + 1),
    }
    child["hash"] = "0x" + parse_header(child).hash.hex()
    return child


async def test_a_restart_resumes_from_the_state_file(beacon_stack: BeaconStack) -> None:
    stack = beacon_stack
    assert (stack.config.data_dir / "beacon-light-client.json").is_file()
    bootstraps = [p for p in stack.data.requests if "/bootstrap/" in p]
    assert len(bootstraps) == 1
    stack.data.bootstraps.clear()  # the checkpoint is no longer served: only the file helps
    again = await start_chain(stack.config, signer=stack.signer)
    try:
        assert again.service.headers.head.number == stack.verified
    finally:
        await again.stop(grace=0.2)
    assert [p for p in stack.data.requests if "/bootstrap/" in p] == bootstraps
