"""One populated anvil chain per fork shape, shared by the module's tests.

Each chain holds: a contract deployment (EIP-1559), a block of three calls that
store values and emit logs (several receipts and logs in one block), a legacy
transfer, an EIP-2930 transfer, a reverted call (status 0), and on Prague an
EIP-7702 set-code transaction. The tests read the node's answers once and then
tamper with copies.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import coincurve
import pytest
import rlp
from eth_utils.crypto import keccak

from tests.chain.verify.devchain import (
    DEV_ACCOUNT,
    DEV_ACCOUNT_2,
    DEV_ACCOUNT_2_KEY,
    DevChain,
    anvil,
)

FORKS = ["london", "shanghai", "cancun", "prague"]
GWEI = 10**9


def word(n: int) -> str:
    return n.to_bytes(32, "big").hex()


def store_call(value: int, slot: int) -> str:
    """Call data for the test contract: store `value` at `slot` and log it."""
    return "0x" + word(value) + word(slot)


def slot_hex(n: int) -> str:
    return "0x" + word(n)


@dataclass
class Scenario:
    chain: DevChain
    fork: str
    contract: str
    chain_id: int
    #: block number -> full block object (transactions included) and its receipts.
    blocks: dict[int, dict[str, Any]] = field(default_factory=dict)
    receipts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    busy_block: int = 0  # the block with several transactions and logs

    def block(self, number: int) -> dict[str, Any]:
        return copy.deepcopy(self.blocks[number])

    def block_receipts(self, number: int) -> list[dict[str, Any]]:
        return copy.deepcopy(self.receipts[number])

    @property
    def head(self) -> int:
        return max(self.blocks)


def _authorization(chain_id: int, delegate: str, nonce: int) -> dict[str, str]:
    """An EIP-7702 authorization signed by the second dev account."""
    digest = keccak(b"\x05" + rlp.encode([chain_id, bytes.fromhex(delegate[2:]), nonce]))
    signature = coincurve.PrivateKey(DEV_ACCOUNT_2_KEY).sign_recoverable(digest, hasher=None)
    return {
        "chainId": hex(chain_id),
        "address": delegate,
        "nonce": hex(nonce),
        "yParity": hex(signature[64]),
        "r": "0x" + signature[:32].hex(),
        "s": "0x" + signature[32:64].hex(),
    }


def populate(chain: DevChain, fork: str) -> Scenario:
    contract = chain.deploy_store_and_log()
    scenario = Scenario(chain, fork, contract, int(chain.call("eth_chainId"), 16))
    scenario.busy_block = chain.send_in_one_block(
        {"to": contract, "data": store_call(7, 3)},
        {"to": contract, "data": store_call(2**255 + 1, 2**200)},
        {"to": DEV_ACCOUNT_2, "value": hex(5 * 10**17)},
        {"to": contract, "data": store_call(11, 5)},
    )
    chain.send(to=DEV_ACCOUNT_2, value=hex(10**18), gasPrice=hex(3 * GWEI))
    chain.send(
        to=contract,
        type="0x1",
        gasPrice=hex(3 * GWEI),
        data=store_call(12, 6),
        accessList=[{"address": contract, "storageKeys": [slot_hex(6)]}],
    )
    chain.send(to=contract, data="0x", gas=hex(100_000))  # reverts: status 0
    if fork == "prague":
        chain.send(
            to=DEV_ACCOUNT_2,
            authorizationList=[_authorization(scenario.chain_id, contract, 0)],
            data=store_call(9, 1),
        )
    head = int(chain.call("eth_blockNumber"), 16)
    for number in range(head + 1):
        scenario.blocks[number] = chain.block(number)
        scenario.receipts[number] = chain.call("eth_getBlockReceipts", hex(number))
    return scenario


@pytest.fixture(scope="module", params=FORKS)
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    with anvil(hardfork=request.param) as chain:
        yield populate(chain, request.param)


__all__ = ["DEV_ACCOUNT", "FORKS", "Scenario", "slot_hex", "store_call"]
