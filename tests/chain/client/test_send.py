"""Transactions through the enclave: built from verified state, sent once per key, confirmed
by a receipt verified against a verified header."""

from __future__ import annotations

import pytest

from anima_chain_api.errors import (
    IdempotencyConflict,
    InvalidChainRequest,
    SigningRefused,
    TransactionReverted,
)
from anima_chain_api.types import TransactionIntent
from anima_dev.contracts import erc20_transfer_data, selector
from tests.chain.client.conftest import AGENT, ETH, Stack

RECIPIENT = bytes.fromhex("00000000000000000000000000000000000a11ce")
TRANSFER_TOPIC = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")


def native(value: int, key: str, to: bytes = RECIPIENT) -> TransactionIntent:
    return TransactionIntent(agent_id=AGENT, to=to, value=value, idempotency_key=key)


async def test_a_native_transfer_is_verified_and_moves_the_balance(stack: Stack) -> None:
    before = await stack.client.account(RECIPIENT)
    outcome = await stack.client.send_transaction(native(ETH // 10, "pay-1"))
    assert outcome.receipt.success
    assert outcome.sender == stack.wallet
    assert outcome.nonce == 0
    assert not outcome.replayed
    assert outcome.signature_log_index > 0  # the enclave logged the signature
    head = await stack.client.head()
    assert outcome.block.number <= head.block.number
    mined = stack.anvil.rpc(
        "eth_getTransactionByHash", ["0x" + outcome.receipt.transaction_hash.hex()]
    )
    assert isinstance(mined, dict)
    assert int(mined["blockNumber"], 16) == outcome.block.number
    assert int(mined["maxPriorityFeePerGas"], 16) == outcome.max_priority_fee_per_gas
    after = await stack.client.account(RECIPIENT)
    assert after.balance - before.balance == ETH // 10
    assert after.block.number > before.block.number


async def test_a_retry_with_the_same_key_sends_nothing_new(stack: Stack) -> None:
    first = await stack.client.send_transaction(native(1234, "pay-once"))
    nonce = stack.account_nonce()
    again = await stack.client.send_transaction(native(1234, "pay-once"))
    assert again.replayed
    assert again.receipt.transaction_hash == first.receipt.transaction_hash
    assert again.block == first.block
    assert stack.account_nonce() == nonce  # no second transaction


async def test_the_same_key_for_another_intent_is_a_conflict(stack: Stack) -> None:
    await stack.client.send_transaction(native(1, "pay-conflict"))
    nonce = stack.account_nonce()
    with pytest.raises(IdempotencyConflict):
        await stack.client.send_transaction(native(2, "pay-conflict"))
    assert stack.account_nonce() == nonce


async def test_a_transfer_beyond_the_policy_never_reaches_the_chain(stack: Stack) -> None:
    calls_before = len(stack.node.calls)
    with pytest.raises(SigningRefused) as refused:
        await stack.client.send_transaction(native(2 * ETH, "too-much"))
    assert refused.value.rule  # the policy rule that refused it
    assert "eth_sendRawTransaction" not in stack.node.calls[calls_before:]
    assert stack.account_nonce() == 0


async def test_an_erc20_transfer_logs_come_from_the_verified_receipt(stack: Stack) -> None:
    data = erc20_transfer_data(RECIPIENT, 5 * ETH)
    intent = TransactionIntent(agent_id=AGENT, to=stack.token, data=data, idempotency_key="erc20-1")
    outcome = await stack.client.send_transaction(intent)
    (log,) = outcome.receipt.logs
    assert log.address == stack.token
    assert log.topics[0] == TRANSFER_TOPIC
    assert log.topics[1][12:] == stack.wallet and log.topics[2][12:] == RECIPIENT
    assert int.from_bytes(log.data, "big") == 5 * ETH
    held = await stack.client.token_balance(stack.token, RECIPIENT)
    assert held.value == 5 * ETH
    found = await stack.client.receipt(outcome.receipt.transaction_hash)
    assert found.receipt == outcome.receipt and found.block == outcome.block


async def test_a_reverting_transaction_is_reported_with_its_verified_receipt(stack: Stack) -> None:
    # More tokens than the wallet holds: TestToken reverts ("balance too low").
    data = erc20_transfer_data(RECIPIENT, 10**30)
    intent = TransactionIntent(
        agent_id=AGENT, to=stack.token, data=data, gas_limit=100_000, idempotency_key="revert-1"
    )
    with pytest.raises(TransactionReverted) as reverted:
        await stack.client.send_transaction(intent)
    found = await stack.client.receipt(bytes.fromhex(reverted.value.transaction_hash[2:]))
    assert not found.receipt.success
    assert found.block.number == int(reverted.value.block_number)


@pytest.mark.parametrize(
    ("intent", "message"),
    [
        (TransactionIntent(agent_id=AGENT, to=RECIPIENT, value=1), "idempotency_key"),
        (TransactionIntent(agent_id="", to=RECIPIENT, value=1, idempotency_key="k"), "agent_id"),
        (TransactionIntent(agent_id="nobody", to=RECIPIENT, value=1, idempotency_key="k"), "agent"),
        (TransactionIntent(agent_id=AGENT, to=b"\x01" * 19, idempotency_key="k"), "20 bytes"),
        (
            TransactionIntent(agent_id=AGENT, to=RECIPIENT, gas_limit=5, idempotency_key="k"),
            "gas_limit",
        ),
        (
            TransactionIntent(agent_id=AGENT, to=RECIPIENT, idempotency_key="bad key!"),
            "idempotency_key",
        ),
        (
            TransactionIntent(agent_id=AGENT, to=RECIPIENT, idempotency_key="k", wallet_index=7),
            "wallet",
        ),
    ],
    ids=["no-key", "no-agent", "unknown-agent", "short-to", "tiny-gas", "bad-key", "no-wallet"],
)
async def test_bad_intents_are_invalid_arguments(
    stack: Stack, intent: TransactionIntent, message: str
) -> None:
    with pytest.raises(InvalidChainRequest, match=message):
        await stack.client.send_transaction(intent)
    assert stack.account_nonce() == 0


def test_the_transfer_selector_is_erc20s() -> None:
    assert selector("transfer(address,uint256)").hex() == "a9059cbb"
