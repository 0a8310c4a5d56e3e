"""An RPC node that is down, slow or reorganised; requests that are out of range."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from anima.chain.v1 import chain_pb2 as pb
from anima.chain.v1 import chain_pb2_grpc as pb_grpc
from anima_chain_api.errors import InvalidChainRequest, NodeUnavailable, TransactionNotMined
from anima_chain_api.types import TransactionIntent
from anima_core.auth import bearer_metadata
from anima_core.channels import client_channel
from tests.chain.client.conftest import AGENT, CHAIN_TOKEN, ETH, Stack

RECIPIENT = bytes.fromhex("00000000000000000000000000000000000c0c00")
SAME_HEIGHT = bytes.fromhex("00000000000000000000000000000000000c0c01")


async def test_a_slow_node_is_unavailable_after_bounded_retries(stack: Stack) -> None:
    stack.node.delay_s = 3.0  # past the 2 s deadline (rpc.timeout_s) on every attempt
    started = time.monotonic()
    with pytest.raises(NodeUnavailable, match="did not answer"):
        await stack.client.account(stack.wallet)
    # One try and one retry, each cut at its deadline: bounded, not hanging.
    assert time.monotonic() - started < 2 * 2.0 + 2.5
    stack.node.delay_s = 0.0
    assert (await stack.client.account(stack.wallet)).balance == 5 * ETH


async def test_a_node_that_is_down(stack: Stack) -> None:
    await stack.node.stop()
    with pytest.raises(NodeUnavailable, match="cannot reach"):
        await stack.client.head()


async def test_a_reorg_drops_the_replaced_headers_and_reads_reverify(stack: Stack) -> None:
    snapshot = stack.anvil.rpc("evm_snapshot")
    stack.anvil.rpc("anvil_setBalance", ["0x" + RECIPIENT.hex(), hex(7)])
    stack.anvil.rpc("evm_mine")
    stack.anvil.rpc("evm_mine")
    seen = await stack.client.account(RECIPIENT)
    assert seen.balance == 7
    stack.anvil.rpc("evm_revert", [snapshot])
    for _ in range(3):  # a longer branch without the balance change
        stack.anvil.rpc("evm_mine", [])
    again = await stack.client.account(RECIPIENT)
    assert again.balance == 0
    assert again.block.hash != seen.block.hash
    head = await stack.client.head()
    assert head.reorgs_seen == 1


async def test_a_transaction_not_mined_in_time_keeps_its_key(stack: Stack) -> None:
    stack.anvil.rpc("evm_setAutomine", [False])
    try:
        intent = TransactionIntent(
            agent_id=AGENT, to=RECIPIENT, value=5, idempotency_key="slow-1", receipt_timeout_ms=300
        )
        with pytest.raises(TransactionNotMined) as pending:
            await stack.client.send_transaction(intent)
        stack.anvil.rpc("evm_mine")
    finally:
        stack.anvil.rpc("evm_setAutomine", [True])
    outcome = await stack.client.send_transaction(intent)
    assert outcome.replayed
    assert "0x" + outcome.receipt.transaction_hash.hex() == pending.value.transaction_hash
    assert stack.account_nonce() == 1


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            pb.SendTransactionRequest(
                agent_id=AGENT, to=RECIPIENT, value=str(2**256), idempotency_key="k"
            ),
            "value",
        ),
        (
            pb.SendTransactionRequest(
                agent_id=AGENT, to=RECIPIENT, value="-1", idempotency_key="k"
            ),
            "value",
        ),
        (
            pb.SendTransactionRequest(
                agent_id=AGENT, to=RECIPIENT, value="1e18", idempotency_key="k"
            ),
            "value",
        ),
        (pb.SendTransactionRequest(agent_id=AGENT, to=b"", value="1", idempotency_key="k"), "to"),
    ],
    ids=["2**256", "negative", "exponent", "no-to"],
)
async def test_out_of_range_values_on_the_wire(
    stack: Stack, request_: pb.SendTransactionRequest, field: str
) -> None:
    channel = client_channel(
        f"127.0.0.1:{stack.running.port}",
        certificate_pem=stack.running.certificate_pem,
        insecure_plaintext=False,
        server_name="anima-chain.local",
        max_message_bytes=1 << 20,
        service="chain",
    )
    async with channel:
        stub = pb_grpc.ChainServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.SendTransaction(request_, metadata=bearer_metadata(CHAIN_TOKEN), timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (failed.value.details() or "")
    assert stack.account_nonce() == 0


def test_addresses_parse_strictly() -> None:
    from anima_chain_api.types import parse_address

    good = "0x52908400098527886E0F7030069857D2E4169EE7"
    assert parse_address(good).hex() == good[2:].lower()
    assert parse_address(good.lower()) == parse_address(good)
    for bad in (
        "",
        "0x",
        good[:-1],
        good + "0",
        "52908400098527886E0F7030069857D2E4169EE7",
        "0x52908400098527886e0F7030069857D2E4169EE7",
        "0xZZ08400098527886E0F7030069857D2E4169EE7",
    ):
        with pytest.raises(InvalidChainRequest):
            parse_address(bad)


async def test_a_reorg_at_the_same_height_is_noticed_by_the_next_read(stack: Stack) -> None:
    """The node's head number stays the same but its block is another: the proof at the
    old verified head fails, and the read follows the new chain instead of refusing."""
    snapshot = stack.anvil.rpc("evm_snapshot")
    stack.anvil.rpc("anvil_setBalance", ["0x" + SAME_HEIGHT.hex(), hex(9)])
    stack.anvil.rpc("evm_mine")
    seen = await stack.client.account(SAME_HEIGHT)
    assert seen.balance == 9
    stack.anvil.rpc("evm_revert", [snapshot])
    stack.anvil.rpc("evm_mine")  # the same height, another block
    again = await stack.client.account(SAME_HEIGHT)
    assert again.block.number == seen.block.number
    assert again.block.hash != seen.block.hash
    assert again.balance == 0
    assert (await stack.client.head()).reorgs_seen == 1


async def test_a_node_down_at_start_fails_closed(stack: Stack, tmp_path: Path) -> None:
    from anima_chain.app import start_chain
    from tests.chain.client.conftest import chain_config, checkpoint_of

    config = chain_config(tmp_path, "http://127.0.0.1:9", checkpoint_of(stack.anvil))
    with pytest.raises(NodeUnavailable, match="cannot reach"):
        await start_chain(config, signer=stack.signer)


async def test_concurrent_sends_from_one_wallet_take_distinct_nonces(stack: Stack) -> None:
    intents = [
        TransactionIntent(agent_id=AGENT, to=RECIPIENT, value=n + 1, idempotency_key=f"par-{n}")
        for n in range(3)
    ]
    outcomes = await asyncio.gather(*(stack.client.send_transaction(i) for i in intents))
    assert sorted(o.nonce for o in outcomes) == [0, 1, 2]
    assert all(o.receipt.success for o in outcomes)
    assert stack.account_nonce() == 3


async def test_catching_up_many_blocks_verifies_each_link(stack: Stack) -> None:
    before = (await stack.client.head()).block.number
    stack.anvil.rpc("anvil_mine", [hex(100)])
    requests = stack.node.requests
    head = await stack.client.head()
    assert head.block.number == before + 100
    node = stack.anvil.rpc("eth_getBlockByNumber", [hex(head.block.number), False])
    assert isinstance(node, dict) and node["hash"][2:] == head.block.hash.hex()
    # 100 headers fetched (and each link checked) in batches of 32: 4 requests, plus
    # the block number.
    assert stack.node.requests - requests <= 6
