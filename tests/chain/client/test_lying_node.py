"""A lying node: the proxy between the chain client and anvil rewrites one thing at a time.
Each lie is refused with its own error, naming the check that caught it, and no lied
value reaches the caller; once the node tells the truth again, reads succeed."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anima_chain_api.errors import ProofRejected, UnverifiableHeader, WrongChain
from anima_chain_api.types import TransactionIntent
from anima_dev.contracts import erc20_transfer_data
from anima_dev.local_chain import LocalChain, local_chain
from tests.chain.client.conftest import AGENT, ETH, Stack

RECIPIENT = bytes.fromhex("00000000000000000000000000000000000b0b00")
FORGED_BALANCE = 10**24


def _flip_hex(value: str) -> str:
    last = value[-1]
    return value[:-1] + ("1" if last != "1" else "2")


async def _refused(stack: Stack, read: Any) -> ProofRejected:
    with pytest.raises(ProofRejected) as refused:
        await read
    return refused.value


async def test_a_forged_balance(stack: Stack) -> None:
    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getProof":
            result = {**result, "balance": hex(FORGED_BALANCE)}
        return result

    stack.node.tamper = lie
    refused = await _refused(stack, stack.client.account(stack.wallet))
    assert refused.check == "PROVEN_VALUE_MISMATCH"
    assert "(balance)" in refused.message
    # The lie is not repeated to the caller, in any notation.
    assert str(FORGED_BALANCE) not in refused.message
    assert hex(FORGED_BALANCE)[2:] not in refused.message.lower()
    stack.node.tamper = None
    assert (await stack.client.account(stack.wallet)).balance == 5 * ETH


async def test_a_forged_storage_value(stack: Stack) -> None:
    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getProof" and result["storageProof"]:
            result = copy.deepcopy(result)
            result["storageProof"][0]["value"] = hex(FORGED_BALANCE)
        return result

    stack.node.tamper = lie
    refused = await _refused(stack, stack.client.token_balance(stack.token, stack.wallet))
    assert refused.check == "PROVEN_VALUE_MISMATCH"
    stack.node.tamper = None
    assert (await stack.client.token_balance(stack.token, stack.wallet)).value == 1000 * ETH


@pytest.mark.parametrize("which", ["accountProof", "storageProof"])
async def test_an_altered_proof_node(stack: Stack, which: str) -> None:
    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getProof":
            result = copy.deepcopy(result)
            proof = (
                result["accountProof"]
                if which == "accountProof"
                else result["storageProof"][0]["proof"]
            )
            proof[-1] = _flip_hex(proof[-1])
        return result

    stack.node.tamper = lie
    refused = await _refused(stack, stack.client.storage(stack.token, [2]))
    assert refused.check == "INVALID_TRIE_PROOF"


async def test_a_proof_for_another_account(stack: Stack) -> None:
    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getProof":
            result = {**result, "address": "0x" + "11" * 20}
        return result

    stack.node.tamper = lie
    refused = await _refused(stack, stack.client.account(stack.wallet))
    assert refused.check == "PROVEN_VALUE_MISMATCH"


async def test_code_that_is_not_the_proven_code(stack: Stack) -> None:
    stack.node.tamper = lambda m, p, r: (r[:-2] + "00") if m == "eth_getCode" else r
    refused = await _refused(stack, stack.client.code(stack.token))
    assert refused.check == "CODE_HASH_MISMATCH"


async def test_a_header_field_changed(stack: Stack) -> None:
    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and result:
            result = {**result, "stateRoot": "0x" + "ab" * 32}
        return result

    stack.node.tamper = lie
    stack.anvil.rpc("evm_mine")
    with pytest.raises(UnverifiableHeader) as refused:
        await stack.client.account(stack.wallet)
    assert refused.value.check == "BLOCK_HEADER_HASH_MISMATCH"
    stack.node.tamper = None
    account = await stack.client.account(stack.wallet)
    assert account.block.state_root != bytes.fromhex("ab" * 32)


@pytest.fixture(scope="module")
def other_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    """Another anvil: same chain id (so only the headers can tell), its own history.
    Its genesis timestamp is pinned: two anvils started within the same second would
    otherwise share a genesis block, and with it the checkpoint."""
    with local_chain(
        tmp_path_factory.mktemp("other"), chain_id=31337, extra_args=("--timestamp", "1")
    ) as chain:
        for _ in range(40):
            chain.rpc("evm_mine")
        yield chain


async def test_a_header_from_another_chain(stack: Stack, other_chain: LocalChain) -> None:
    head = await stack.client.head()

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and int(params[0], 16) > head.block.number:
            return other_chain.rpc("eth_getBlockByNumber", params)
        return result

    stack.node.tamper = lie
    stack.anvil.rpc("evm_mine")
    with pytest.raises(UnverifiableHeader) as refused:
        await stack.client.head()
    assert refused.value.check == "BROKEN_CHAIN_LINK"
    stack.node.tamper = None
    assert (await stack.client.head()).block.number == head.block.number + 1


async def test_a_node_of_another_chain_id_is_refused_at_start(stack: Stack, tmp_path: Path) -> None:
    from anima_chain.app import start_chain
    from tests.chain.client.conftest import chain_config, checkpoint_of

    with local_chain(tmp_path / "c", chain_id=999) as foreign:
        config = chain_config(tmp_path / "x", foreign.url, checkpoint_of(stack.anvil))
        with pytest.raises(WrongChain):
            await start_chain(config, signer=stack.signer)


async def test_a_node_without_the_checkpoint_is_refused_at_start(
    stack: Stack, other_chain: LocalChain, tmp_path: Path
) -> None:
    from anima_chain.app import start_chain
    from tests.chain.client.conftest import chain_config, checkpoint_of

    config = chain_config(tmp_path, other_chain.url, checkpoint_of(stack.anvil))
    with pytest.raises(UnverifiableHeader) as refused:
        await start_chain(config, signer=stack.signer)
    assert refused.value.check == "CHECKPOINT_UNKNOWN"


async def _transfer(stack: Stack, key: str) -> bytes:
    data = erc20_transfer_data(RECIPIENT, ETH)
    intent = TransactionIntent(agent_id=AGENT, to=stack.token, data=data, idempotency_key=key)
    return (await stack.client.send_transaction(intent)).receipt.transaction_hash


@pytest.mark.parametrize(
    ("lie", "check"),
    [
        ("status", "RECEIPTS_ROOT_MISMATCH"),
        ("gas", "RECEIPTS_ROOT_MISMATCH"),
        ("omitted-log", "RECEIPTS_ROOT_MISMATCH"),
        ("log-data", "RECEIPTS_ROOT_MISMATCH"),
        ("transaction", "TRANSACTIONS_ROOT_MISMATCH"),
    ],
)
async def test_a_forged_receipt_or_transaction(stack: Stack, lie: str, check: str) -> None:
    tx_hash = await _transfer(stack, f"receipt-{lie}")

    def tamper(method: str, params: list[Any], result: Any) -> Any:
        result = copy.deepcopy(result)
        if method == "eth_getBlockReceipts":
            receipt = result[-1]
            if lie == "status":
                receipt["status"] = "0x0"
            elif lie == "gas":
                receipt["cumulativeGasUsed"] = hex(int(receipt["cumulativeGasUsed"], 16) + 1)
            elif lie == "omitted-log":
                receipt["logs"] = []
            elif lie == "log-data":
                receipt["logs"][0]["data"] = "0x" + (10**30).to_bytes(32, "big").hex()
        if method == "eth_getBlockByHash" and lie == "transaction" and params[1]:
            result["transactions"][-1]["value"] = hex(FORGED_BALANCE)
        return result

    stack.node.tamper = tamper
    refused = await _refused(stack, stack.client.receipt(tx_hash))
    assert refused.check == check
    stack.node.tamper = None
    found = await stack.client.receipt(tx_hash)
    assert found.receipt.success and len(found.receipt.logs) == 1


async def test_a_send_whose_receipt_is_forged_reports_no_outcome(stack: Stack) -> None:
    """A forged receipt at send time: the caller gets the refusal, not a success."""
    stack.node.tamper = lambda m, p, r: (
        [{**x, "logs": []} for x in r] if m == "eth_getBlockReceipts" else r
    )
    with pytest.raises(ProofRejected) as refused:
        await _transfer(stack, "forged-at-send")
    assert refused.value.check == "RECEIPTS_ROOT_MISMATCH"
