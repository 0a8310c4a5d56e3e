"""GetLogs: logs of verified blocks, from their verified receipts only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from anima_chain_api.errors import BlockNotVerified, InvalidChainRequest, ProofRejected
from anima_chain_api.types import TransactionIntent
from anima_dev.contracts import erc20_transfer_data
from tests.chain.client.conftest import AGENT, ETH, Stack

TRANSFER_TOPIC = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
TO = bytes.fromhex("00000000000000000000000000000000000d0d00")


async def _pay_tokens(stack: Stack, amount: int, key: str) -> int:
    data = erc20_transfer_data(TO, amount)
    intent = TransactionIntent(agent_id=AGENT, to=stack.token, data=data, idempotency_key=key)
    return (await stack.client.send_transaction(intent)).block.number


async def test_the_logs_of_a_range_match_the_chain(stack: Stack) -> None:
    first = await _pay_tokens(stack, 2 * ETH, "logs-1")
    stack.anvil.rpc("evm_mine")
    last = await _pay_tokens(stack, 3 * ETH, "logs-2")
    logs = await stack.client.logs(first, last, address=stack.token, topic0=TRANSFER_TOPIC)
    assert [int.from_bytes(x.log.data, "big") for x in logs] == [2 * ETH, 3 * ETH]
    assert [x.block.number for x in logs] == [first, last]
    node_logs = stack.anvil.rpc(
        "eth_getLogs",
        [{"fromBlock": hex(first), "toBlock": hex(last), "address": "0x" + stack.token.hex()}],
    )
    assert isinstance(node_logs, list)
    assert [x["transactionHash"][2:] for x in node_logs] == [x.transaction_hash.hex() for x in logs]
    assert await stack.client.logs(first, last, address=TO) == []


async def test_an_omitted_log_in_a_range_is_refused(stack: Stack) -> None:
    block = await _pay_tokens(stack, ETH, "logs-omitted")

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockReceipts":
            result = copy.deepcopy(result)
            for receipt in result:
                receipt["logs"] = []
        return result

    stack.node.tamper = lie
    with pytest.raises(ProofRejected) as refused:
        await stack.client.logs(block, block)
    assert refused.value.check == "RECEIPTS_ROOT_MISMATCH"


async def test_ranges_must_be_verified_and_bounded(stack: Stack) -> None:
    head = (await stack.client.head()).block.number
    with pytest.raises(InvalidChainRequest, match="256"):
        await stack.client.logs(1, 1000)
    with pytest.raises(InvalidChainRequest):
        await stack.client.logs(0, 1)
    with pytest.raises(InvalidChainRequest):
        await stack.client.logs(5, 4)
    with pytest.raises(BlockNotVerified):
        await stack.client.logs(head + 10, head + 11)
    with pytest.raises(InvalidChainRequest, match="20 bytes"):
        await stack.client.logs(1, 1, address=b"\x01")
    with pytest.raises(InvalidChainRequest, match="topic0"):
        await stack.client.logs(1, 1, topic0=b"\x01")
