"""The agent anchor on a dev chain: deploy contracts/AgentAnchor.sol, relay signed updates,
and read an anchor the way a restoring enclave does (headers from a trusted checkpoint,
then a storage proof), so the host's word is never taken for it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from eth_abi.abi import encode

from anima_dev.contracts import compile_contracts, selector, send_from_dev_account
from anima_dev.local_chain import LocalChain
from anima_verify.chain.header import BlockHeader, verify_chain_link, verify_header
from anima_verify.lifedata.anchor import AnchorState, anchor_slots, verify_anchor


class JsonRpcChain(Protocol):
    """Any JSON-RPC endpoint (anvil here, an operator's node in `anima agent recover`)."""

    def rpc(self, method: str, params: Sequence[object] = ...) -> object: ...


_UPDATE = "update(address,(bytes32,bytes32,uint64,uint64,uint64),uint8,bytes32,bytes32)"


def deploy_agent_anchor(chain: LocalChain) -> bytes:
    anchor = compile_contracts()["AgentAnchor"]
    receipt = send_from_dev_account(
        chain, {"data": "0x" + anchor.bytecode.hex(), "gas": hex(3_000_000)}
    )
    return bytes.fromhex(str(receipt["contractAddress"])[2:])


def update_call_data(agent: bytes, state: AnchorState, v: int, r: bytes, s: bytes) -> bytes:
    args = encode(
        ["address", "(bytes32,bytes32,uint64,uint64,uint64)", "uint8", "bytes32", "bytes32"],
        ["0x" + agent.hex(), state.abi_tuple(), v, r, s],
    )
    return selector(_UPDATE) + args


def relay_update(
    chain: LocalChain,
    contract: bytes,
    agent: bytes,
    state: AnchorState,
    signature: tuple[int, bytes, bytes],
) -> dict[str, Any]:
    """Send the enclave-signed update from a dev account (any relayer will do: the
    contract checks the agent's signature, not the sender); raises if it reverts."""
    data = update_call_data(agent, state, *signature)
    return send_from_dev_account(
        chain, {"to": "0x" + contract.hex(), "data": "0x" + data.hex(), "gas": hex(300_000)}
    )


class AnchorUpdateFailed(RuntimeError):
    """The chain did not take an anchor update (reverted, or never mined)."""


def relay_update_from(
    chain: JsonRpcChain,
    sender: str,
    contract: bytes,
    agent: bytes,
    state: AnchorState,
    signature: tuple[int, bytes, bytes],
    *,
    timeout_s: float = 30.0,
) -> str:
    """Send the enclave-signed update from `sender`, an account the node signs for (an
    anvil dev account; a relayer's node elsewhere); the transaction hash once mined.
    The sender carries no authority: the contract checks the agent's signature."""
    data = update_call_data(agent, state, *signature)
    tx = {"from": sender, "to": "0x" + contract.hex(), "data": "0x" + data.hex()}
    tx_hash = str(chain.rpc("eth_sendTransaction", [{**tx, "gas": hex(300_000)}]))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        receipt = chain.rpc("eth_getTransactionReceipt", [tx_hash])
        if isinstance(receipt, dict):
            if receipt.get("status") != "0x1":
                raise AnchorUpdateFailed(
                    f"the anchor update {tx_hash} reverted (epoch {state.epoch}, version "
                    f"{state.version}): the anchor is newer, or the signature is not the agent's"
                )
            return tx_hash
        time.sleep(0.05)
    raise AnchorUpdateFailed(f"the anchor update {tx_hash} was not mined in {timeout_s} s")


def verified_head(chain: JsonRpcChain, checkpoint: bytes) -> BlockHeader:
    """Walk from the trusted checkpoint block (by hash) to the head, checking each link."""
    return verified_blocks(chain, checkpoint)[0]


def verified_blocks(
    chain: JsonRpcChain, checkpoint: bytes
) -> tuple[BlockHeader, list[dict[str, Any]]]:
    """The head, and the blocks from the trusted one to it (for an enclave to check again)."""
    first = chain.rpc("eth_getBlockByHash", ["0x" + checkpoint.hex(), False])
    assert isinstance(first, dict)
    header = verify_header(first, expected_hash=checkpoint)
    blocks = [first]
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    for number in range(header.number + 1, head + 1):
        block = chain.rpc("eth_getBlockByNumber", [hex(number), False])
        assert isinstance(block, dict)
        child = verify_header(block)
        verify_chain_link(header, child)
        header = child
        blocks.append(block)
    return header, blocks


def read_anchor(
    chain: JsonRpcChain, contract: bytes, agent: bytes, head: BlockHeader
) -> AnchorState:
    return read_anchor_proof(chain, contract, agent, head)[0]


def read_anchor_proof(
    chain: JsonRpcChain, contract: bytes, agent: bytes, head: BlockHeader
) -> tuple[AnchorState, dict[str, Any]]:
    """The anchor at `head`, verified, and the storage proof it was read from."""
    slots = ["0x" + slot.to_bytes(32, "big").hex() for slot in anchor_slots(agent)]
    proof = chain.rpc("eth_getProof", ["0x" + contract.hex(), slots, hex(head.number)])
    assert isinstance(proof, dict)
    state = verify_anchor(head.state_root, contract=contract, agent=agent, eip1186_response=proof)
    return state, proof
