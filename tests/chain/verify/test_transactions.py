"""Transactions from a real anvil (legacy, EIP-2930, EIP-1559 and, on Prague,
EIP-7702) re-encode to their hashes and rebuild each block's transactions root; a
tampered, omitted or reordered transaction is refused."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from anima_verify.chain.errors import (
    MalformedChainData,
    ProvenValueMismatch,
    TransactionsRootMismatch,
)
from anima_verify.chain.header import verify_header
from anima_verify.chain.transactions import encode_transaction, verify_transactions
from tests.chain.verify.conftest import Scenario
from tests.chain.verify.devchain import DEV_ACCOUNT, DEV_ACCOUNT_2


def test_every_blocks_transactions_verify(scenario: Scenario) -> None:
    for number in range(scenario.head + 1):
        block = scenario.block(number)
        verified = verify_transactions(verify_header(block), block["transactions"])
        assert [tx.hash.hex() for tx in verified] == [t["hash"][2:] for t in block["transactions"]]
        for tx, claimed in zip(verified, block["transactions"], strict=True):
            assert tx.tx_type == int(claimed["type"], 16)
            assert tx.value == int(claimed["value"], 16)
            assert tx.to == (bytes.fromhex(claimed["to"][2:]) if claimed["to"] else None)
            assert tx.sender == bytes.fromhex(DEV_ACCOUNT[2:])


def test_the_deployment_has_no_recipient(scenario: Scenario) -> None:
    block = scenario.block(1)
    (deployment,) = verify_transactions(verify_header(block), block["transactions"])
    assert deployment.to is None and deployment.input.startswith(b"\x60")


@pytest.mark.parametrize(
    ("name", "value"),
    [("value", "0x1"), ("nonce", "0x63"), ("to", "0x" + "ee" * 20), ("input", "0x00"),
     ("gas", "0x5208"), ("r", "0x1"), ("s", "0x2")],
)  # fmt: skip
def test_a_tampered_transaction_no_longer_hashes_to_its_hash(
    scenario: Scenario, name: str, value: str
) -> None:
    block = scenario.block(scenario.busy_block)
    block["transactions"][1][name] = value
    with pytest.raises(TransactionsRootMismatch, match=r"transactions\[1\]'s fields hash"):
        verify_transactions(verify_header(block), block["transactions"])


def test_every_transaction_type_is_bound_by_its_hash(scenario: Scenario) -> None:
    """Each type's own fields (gas price, fee caps, access list, authorizations)."""
    changes = {
        0: ("gasPrice", "0x1"),
        1: ("accessList", []),
        2: ("maxPriorityFeePerGas", "0x0"),
        4: ("authorizationList", []),
    }
    for block in scenario.blocks.values():
        for index, tx in enumerate(block["transactions"]):
            name, value = changes[int(tx["type"], 16)]
            tampered = {**block, "transactions": [dict(t) for t in block["transactions"]]}
            tampered["transactions"][index][name] = value
            with pytest.raises(TransactionsRootMismatch):
                verify_transactions(verify_header(block), tampered["transactions"])


def test_a_rehashed_forgery_is_refused_by_the_root(scenario: Scenario) -> None:
    """A node that alters a transaction and gives the altered one's true hash."""
    block = scenario.block(scenario.busy_block)
    forged = block["transactions"][2]
    forged["value"] = hex(int(forged["value"], 16) * 10)
    forged["hash"] = "0x" + keccak(encode_transaction(forged)).hex()
    with pytest.raises(ProvenValueMismatch, match="is signed by"):  # another signer now
        verify_transactions(verify_header(block), block["transactions"])
    del forged["from"]  # and when the node names no sender, the root refuses it
    with pytest.raises(TransactionsRootMismatch, match="rebuild the root"):
        verify_transactions(verify_header(block), block["transactions"])


def test_an_omitted_or_reordered_transaction_is_refused(scenario: Scenario) -> None:
    block = scenario.block(scenario.busy_block)
    header = verify_header(block)
    txs = block["transactions"]
    with pytest.raises(TransactionsRootMismatch, match="3 transactions rebuild"):
        verify_transactions(header, txs[:-1])
    with pytest.raises(TransactionsRootMismatch):
        verify_transactions(header, [txs[1], txs[0], *txs[2:]])
    with pytest.raises(TransactionsRootMismatch):
        verify_transactions(header, [*txs, txs[0]])


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("type", "0x7e", "type 126"),
        ("yParity", "0x2", "not a y parity"),
        ("accessList", [{"address": "0x00", "storageKeys": []}], "20 bytes"),
        ("hash", "0x00", "32 bytes"),
        ("to", "0x1234", "20 bytes"),
    ],
)
def test_malformed_transactions_are_named(
    scenario: Scenario, name: str, value: object, message: str
) -> None:
    block = scenario.block(scenario.busy_block)
    block["transactions"][0][name] = value
    with pytest.raises(MalformedChainData, match=message):
        verify_transactions(verify_header(block), block["transactions"])


def test_a_false_sender_is_refused(scenario: Scenario) -> None:
    """The node names another sender: the signature says who signed."""
    block = scenario.block(scenario.busy_block)
    block["transactions"][0]["from"] = DEV_ACCOUNT_2
    with pytest.raises(ProvenValueMismatch, match="is signed by") as refused:
        verify_transactions(verify_header(block), block["transactions"])
    assert refused.value.field == "from"


def test_the_sender_never_comes_from_the_node(scenario: Scenario) -> None:
    block = scenario.block(scenario.busy_block)
    for tx in block["transactions"]:
        del tx["from"]
    verified = verify_transactions(verify_header(block), block["transactions"])
    assert {tx.sender for tx in verified} == {bytes.fromhex(DEV_ACCOUNT[2:])}
