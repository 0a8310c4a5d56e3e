"""A minimal Ethereum JSON-RPC client for the chain DA backends, and their errors.

The node is untrusted: what it returns is only located data, every byte of which the
backends check (content address, KZG commitment) before handing it on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import httpx

from anima_verify.errors import AnimaError, ErrorKind
from anima_verify.lifedata import ChunkCorrupt

RECEIPT_TIMEOUT_S = 60.0


class ChainDAUnavailable(AnimaError):
    """The chain node could not be reached or refused a call (nothing was trusted)."""

    kind = ErrorKind.UNAVAILABLE
    reason = "DA_CHAIN_UNAVAILABLE"


class ChainDAPostFailed(AnimaError):
    """A DA transaction was not mined, or reverted: the data is not on chain."""

    kind = ErrorKind.UNAVAILABLE
    reason = "DA_CHAIN_POST_FAILED"


class ChainDAReadOnly(AnimaError):
    """This chain backend was opened to read (a recovering node): it has no sender."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "DA_CHAIN_READ_ONLY"


class ChainDataMismatch(ChunkCorrupt):
    """The node returned bytes that are not the ones posted (a lying or broken node)."""

    reason = "DA_CHAIN_DATA_MISMATCH"


class JsonRpc:
    """Blocking JSON-RPC over HTTP (the backends run off the event loop, like the
    local directory's file I/O)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout_s)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, params: Sequence[object] = ()) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            response = self._client.post(self.url, json=body)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainDAUnavailable(f"chain node: {method} failed: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise ChainDAUnavailable(f"chain node: {method} answered with no JSON object")
        if "error" in answer:
            error = answer["error"]
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise ChainDAUnavailable(f"chain node refused {method}: {str(message)[:200]}")
        return answer.get("result")

    def wait_mined(self, tx_hash: str) -> dict[str, Any]:
        """The receipt of a successful transaction; ChainDAPostFailed otherwise."""
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while time.monotonic() < deadline:
            receipt = self.call("eth_getTransactionReceipt", [tx_hash])
            if isinstance(receipt, dict):
                if receipt.get("status") != "0x1":
                    raise ChainDAPostFailed(f"DA transaction {tx_hash} reverted")
                return receipt
            time.sleep(0.05)
        raise ChainDAPostFailed(
            f"DA transaction {tx_hash} was not mined in {RECEIPT_TIMEOUT_S:.0f} s"
        )


def hex_bytes(value: object, *, what: str) -> bytes:
    """Bytes from a node's 0x-hex string; ChainDataMismatch if it is not one."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainDataMismatch(f"the chain node's {what} is not 0x-hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ChainDataMismatch(f"the chain node's {what} is not 0x-hex") from None
