"""The project's Solidity contracts (contracts/*.sol), compiled at use and deployed to a dev chain.

Compiled at use, not committed: `node contracts/compile.mjs` runs the solc pinned in
package-lock.json (offline, about a second), so what is deployed always comes from
the source beside it. Deployment sends from anvil's first development account,
which anvil unlocks itself (no key handled here).
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from anima_dev.local_chain import LocalChain
from anima_dev.protogen import REPO_ROOT

COMPILER = REPO_ROOT / "contracts" / "compile.mjs"


@dataclass(frozen=True)
class Compiled:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes


@functools.cache
def compile_contracts() -> dict[str, Compiled]:
    output = subprocess.run(
        ["node", str(COMPILER)], capture_output=True, check=False, timeout=120, cwd=REPO_ROOT
    )
    if output.returncode != 0:
        raise RuntimeError(f"solc failed: {output.stderr.decode(errors='replace')[-2000:]}")
    found = json.loads(output.stdout)["contracts"]
    return {
        name: Compiled(
            name=name,
            abi=c["abi"],
            bytecode=bytes.fromhex(c["bytecode"][2:]),
            deployed_bytecode=bytes.fromhex(c["deployedBytecode"][2:]),
        )
        for name, c in found.items()
    }


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def erc20_transfer_data(to: bytes, amount: int) -> bytes:
    return selector("transfer(address,uint256)") + encode(["address", "uint256"], [to, amount])


def dev_account(chain: LocalChain, index: int = 0) -> str:
    accounts = chain.rpc("eth_accounts")
    assert isinstance(accounts, list)
    return str(accounts[index])


def send_from_dev_account(chain: LocalChain, tx: dict[str, str], index: int = 0) -> dict[str, Any]:
    """Send from an anvil-unlocked account and wait for its receipt (test setup only)."""
    tx_hash = chain.rpc("eth_sendTransaction", [{"from": dev_account(chain, index), **tx}])
    for _ in range(500):
        receipt = chain.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            assert isinstance(receipt, dict)
            if receipt.get("status") != "0x1":
                raise RuntimeError(f"setup transaction {tx_hash} failed")
            return receipt
        time.sleep(0.02)
    raise RuntimeError(f"setup transaction {tx_hash} was not mined")


def deploy_test_token(
    chain: LocalChain, *, supply: int, name: str = "Anima Test", symbol: str = "ATT"
) -> bytes:
    """Deploy TestToken (the whole supply to anvil's first account); its 20-byte address."""
    token = compile_contracts()["TestToken"]
    args = encode(["string", "string", "uint256"], [name, symbol, supply])
    receipt = send_from_dev_account(
        chain, {"data": "0x" + (token.bytecode + args).hex(), "gas": hex(3_000_000)}
    )
    return bytes.fromhex(str(receipt["contractAddress"])[2:])


def give_tokens(chain: LocalChain, token: bytes, to: bytes, amount: int) -> None:
    send_from_dev_account(
        chain, {"to": "0x" + token.hex(), "data": "0x" + erc20_transfer_data(to, amount).hex()}
    )


def set_balance(chain: LocalChain, address: bytes, wei: int) -> None:
    chain.rpc("anvil_setBalance", ["0x" + address.hex(), hex(wei)])
    chain.rpc("evm_mine")  # so the new state is in a block (and a verified state root)
