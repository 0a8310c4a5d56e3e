"""Proven reads against a real anvil: every value matches the chain and names its block."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from anima_chain_api.errors import (
    BlockNotVerified,
    InvalidChainRequest,
    ProofRejected,
    WrongChain,
)
from anima_dev.contracts import compile_contracts
from tests.chain.client.conftest import CHAIN_ID, ETH, TOKEN_SUPPLY, Stack


async def test_the_head_is_verified_and_linked_to_the_checkpoint(stack: Stack) -> None:
    head = await stack.client.head()
    node_head = stack.anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert isinstance(node_head, dict)
    assert head.block.number == int(node_head["number"], 16)
    assert head.block.hash.hex() == node_head["hash"][2:]
    assert head.block.state_root.hex() == node_head["stateRoot"][2:]
    assert head.chain_id == CHAIN_ID
    assert head.base_fee_per_gas == int(node_head["baseFeePerGas"], 16)
    genesis = stack.anvil.rpc("eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    assert head.checkpoint_hash.hex() == genesis["hash"][2:]


async def test_another_chain_id_is_refused(stack: Stack) -> None:
    with pytest.raises(WrongChain):
        await stack.client.head(chain_id=1)


async def test_balance_and_nonce_are_proven_at_the_head(stack: Stack) -> None:
    account = await stack.client.account(stack.wallet)
    assert account.balance == 5 * ETH
    assert account.nonce == 0
    head = await stack.client.head()
    assert account.block.number == head.block.number


async def test_a_proof_for_another_state_root_is_refused(stack: Stack) -> None:
    """anvil answers eth_getProof at an older block with its latest state's proof (it
    keeps no historical tries): the client notices and refuses, as with any lying node."""
    head = await stack.client.head()
    with pytest.raises(ProofRejected) as refused:
        await stack.client.account(stack.wallet, block_number=head.block.number - 2)
    assert refused.value.check == "INVALID_TRIE_PROOF"


async def test_a_block_beyond_the_verified_head_is_not_verified(stack: Stack) -> None:
    head = await stack.client.head()
    with pytest.raises(BlockNotVerified):
        await stack.client.account(stack.wallet, block_number=head.block.number + 50)


async def test_an_absent_account_is_proven_empty(stack: Stack) -> None:
    nobody = keccak(b"nobody")[:20]
    account = await stack.client.account(nobody)
    assert (account.balance, account.nonce) == (0, 0)
    assert account.code_hash == keccak(b"")


async def test_token_storage_code_and_balance_of(stack: Stack) -> None:
    compiled = compile_contracts()["TestToken"]
    code = await stack.client.code(stack.token)
    assert code.code == compiled.deployed_bytecode
    assert code.code_hash == keccak(compiled.deployed_bytecode)
    total_supply_slot = 2
    storage = await stack.client.storage(stack.token, [total_supply_slot])
    assert storage.values == (TOKEN_SUPPLY,)
    held = await stack.client.token_balance(stack.token, stack.wallet, balances_slot=0)
    assert held.value == 1000 * ETH


@pytest.mark.parametrize(
    "address", [b"", b"\x01" * 19, b"\x01" * 21, b"\x01" * 32], ids=["empty", "19", "21", "32"]
)
async def test_malformed_addresses_are_invalid_arguments(stack: Stack, address: bytes) -> None:
    with pytest.raises(InvalidChainRequest, match="20 bytes"):
        await stack.client.account(address) if address else await stack.client.code(address)


async def test_too_many_or_malformed_slots(stack: Stack) -> None:
    with pytest.raises(InvalidChainRequest, match="slots"):
        await stack.client.storage(stack.token, list(range(65)))
    with pytest.raises(InvalidChainRequest, match="slots"):
        await stack.client.storage(stack.token, [])
