"""A real anvil dev chain for the chain-proof tests: started on a free loopback port,
spoken to in plain JSON-RPC (urllib; web3.py is no dependency), stopped with the test.

The contract the tests deploy is written here as EVM bytecode by hand (no compiler
needed for these tests): given two 32-byte words (value, slot) it stores value at
slot and emits LOG1(topic = caller, data = the call data); with no call data it
reverts, which gives a receipt with status 0.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"

#: anvil's first two default dev accounts, funded on every anvil chain, from its
#: documented public test mnemonic (never a real key). The second one's key signs
#: an EIP-7702 authorization in the tests.
DEV_ACCOUNT = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
DEV_ACCOUNT_2 = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
DEV_ACCOUNT_2_KEY = bytes.fromhex(
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
)

_RUNTIME = bytes.fromhex(
    "36600857"  # CALLDATASIZE PUSH1 8 JUMPI: call data present -> store and log
    "600080fd"  # PUSH1 0 DUP1 REVERT
    "5b"  # JUMPDEST
    "600035602035"  # CALLDATALOAD(0) CALLDATALOAD(32)
    "55"  # SSTORE(slot = word 1, value = word 0)
    "3660006000"
    "37"  # CALLDATACOPY(0, 0, CALLDATASIZE)
    "3336600"
    "0a1"  # LOG1(0, CALLDATASIZE, CALLER)
    "00"  # STOP
)
#: Init code: CODECOPY the runtime (which follows these 12 bytes) to memory, RETURN it.
STORE_AND_LOG_CONTRACT = (
    bytes([0x60, len(_RUNTIME), 0x60, 12, 0x60, 0, 0x39, 0x60, len(_RUNTIME), 0x60, 0, 0xF3])
    + _RUNTIME
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RpcError(Exception):
    pass


class DevChain:
    """JSON-RPC calls to a running anvil."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error']}")
        return answer["result"]

    def send(self, **tx: Any) -> dict[str, Any]:
        """eth_sendTransaction from a dev account (automine), returning its receipt."""
        tx.setdefault("from", DEV_ACCOUNT)
        tx_hash = self.call("eth_sendTransaction", tx)
        deadline = time.monotonic() + 30
        while True:  # automine answers before the block is stored, now and then
            receipt: dict[str, Any] | None = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise RpcError(f"no receipt for {tx_hash}")
            time.sleep(0.01)

    def send_in_one_block(self, *txs: dict[str, Any]) -> int:
        """Several transactions mined together: the number of their block."""
        self.call("evm_setAutomine", False)
        try:
            for tx in txs:
                self.call("eth_sendTransaction", {"from": DEV_ACCOUNT, **tx})
            self.call("evm_mine")
        finally:
            self.call("evm_setAutomine", True)
        return int(self.call("eth_blockNumber"), 16)

    def block(self, number: int | str = "latest", *, full: bool = True) -> dict[str, Any]:
        tag = hex(number) if isinstance(number, int) else number
        block: dict[str, Any] = self.call("eth_getBlockByNumber", tag, full)
        return block

    def deploy_store_and_log(self) -> str:
        receipt = self.send(data="0x" + STORE_AND_LOG_CONTRACT.hex())
        address: str = receipt["contractAddress"]
        return address


@contextmanager
def anvil(*, hardfork: str = "prague", args: tuple[str, ...] = ()) -> Iterator[DevChain]:
    """An anvil process for the duration of the block; the chain is empty but for the
    funded dev accounts."""
    if not ANVIL.exists():
        raise RuntimeError(f"{ANVIL} is missing: run `npm ci` (package.json pins anvil)")
    port = free_port()
    command = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--hardfork", hardfork]
    process = subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    chain = DevChain(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                chain.call("eth_chainId")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"anvil did not start: {stderr[-2000:]}") from None
                time.sleep(0.05)
        yield chain
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
