"""Who sends the DA transactions on the dev chain, without a long-lived key in the host.

- `DevChainAccountSender`: anvil's unlocked development account; anvil signs
  (eth_sendTransaction), so this process handles no key at all. Calldata posts use it.
- `InsecureEphemeralBlobPoster`: anvil 1.7.1's eth_sendTransaction drops a request's
  blob sidecar ("Failed to decode transaction"), so type-3 transactions are signed
  here, by a throwaway key made in memory when the backend starts and funded with gas
  money by the development account; it is never written, logged or returned.

Both are dev-chain only (config refuses them in production). Production sends through
the agent's wallet in the signer (the chain client's path: SignRequest returns a raw
transaction); a type-3 payload for SignRequest is the missing piece for blobs.
"""

from __future__ import annotations

import secrets

import coincurve
import rlp
from eth_utils.crypto import keccak

from anima_dasync.backends.blob_codec import BlobBundle
from anima_dasync.backends.chain_rpc import JsonRpc
from anima_verify.eth import eth_address

BLOB_TX_TYPE = b"\x03"
PRIORITY_FEE_WEI = 10**9
GAS_MONEY_WEI = 10**18


class DevChainAccountSender:
    """DEV CHAIN ONLY: anvil's unlocked account `index` sends and anvil signs."""

    def __init__(self, *, rpc: JsonRpc, index: int = 0) -> None:
        self._rpc = rpc
        self._index = index
        self._address: str | None = None

    @property
    def address(self) -> str:
        if self._address is None:
            accounts = self._rpc.call("eth_accounts")
            if not isinstance(accounts, list) or len(accounts) <= self._index:
                raise ValueError("the chain node has no unlocked development account")
            self._address = str(accounts[self._index]).lower()
        return self._address

    def send_call(self, to: bytes, data: bytes, *, value: int = 0) -> str:
        tx = {"from": self.address, "to": "0x" + to.hex(), "data": "0x" + data.hex()}
        if value:
            tx["value"] = hex(value)
        return str(self._rpc.call("eth_sendTransaction", [tx]))


class InsecureEphemeralBlobPoster:
    """DEV CHAIN ONLY: signs type-3 transactions with a throwaway in-memory key.

    Signing is RLP + one secp256k1 signature (well under a millisecond), not
    eth-account's blob path, which rebuilds the sidecar and reloads the trusted setup
    on every call.
    """

    def __init__(self, *, rpc: JsonRpc, funder: DevChainAccountSender, chain_id: int) -> None:
        self._rpc = rpc
        self._funder = funder
        self._chain_id = chain_id
        self._key = coincurve.PrivateKey(secrets.token_bytes(32))
        self.address = eth_address(self._key.public_key).lower()
        self._funded = False

    def __repr__(self) -> str:  # never the key
        return f"InsecureEphemeralBlobPoster(address={self.address})"

    def _fund(self) -> None:
        if not self._funded:
            balance = int(str(self._rpc.call("eth_getBalance", [self.address, "latest"])), 16)
            if balance < GAS_MONEY_WEI // 10:
                receipt_hash = self._funder.send_call(
                    bytes.fromhex(self.address[2:]), b"", value=GAS_MONEY_WEI
                )
                self._rpc.wait_mined(receipt_hash)
            self._funded = True

    def send_blobs(self, to: bytes, data: bytes, sidecar: BlobBundle) -> str:
        self._fund()
        nonce = int(str(self._rpc.call("eth_getTransactionCount", [self.address, "pending"])), 16)
        block = self._rpc.call("eth_getBlockByNumber", ["latest", False])
        base_fee = int(str(block["baseFeePerGas"]), 16)
        blob_base_fee = int(str(self._rpc.call("eth_blobBaseFee")), 16)
        body = [
            self._chain_id,
            nonce,
            PRIORITY_FEE_WEI,
            2 * base_fee + PRIORITY_FEE_WEI,
            100_000 + 5_000 * len(sidecar.blobs),  # the event: ~35k gas + a word per blob
            to,
            0,
            data,
            [],
            2 * blob_base_fee + 1,
            list(sidecar.versioned_hashes),
        ]
        signature = self._key.sign_recoverable(keccak(BLOB_TX_TYPE + rlp.encode(body)), hasher=None)
        r, s, y_parity = signature[:32], signature[32:64], signature[64]
        signed = [*body, y_parity, int.from_bytes(r, "big"), int.from_bytes(s, "big")]
        # The network form carries the sidecar: rlp([tx, blobs, commitments, proofs]).
        wrapped = [signed, list(sidecar.blobs), list(sidecar.commitments), list(sidecar.proofs)]
        raw = BLOB_TX_TYPE + rlp.encode(wrapped)
        return str(self._rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()]))
