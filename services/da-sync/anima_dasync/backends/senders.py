"""Who sends the DA transactions: on the dev chain, anvil's unlocked development account.

anvil signs (eth_sendTransaction, blob transactions included: the request carries the
sidecar's blobs, commitments and proofs beside its fields), so this process handles
no key at all. Dev-chain only: config refuses it in production. Production sends
through the agent's wallet in the signer (the chain client's path: SignRequest
returns a raw transaction); a type-3 payload for SignRequest is the missing piece for
blobs (the enclave signs the body with the versioned hashes; the host adds the
sidecar, which is public data).
"""

from __future__ import annotations

from anima_dasync.backends.blob_codec import BlobBundle
from anima_dasync.backends.chain_rpc import JsonRpc


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

    def send_call(self, to: bytes, data: bytes) -> str:
        tx = {"from": self.address, "to": "0x" + to.hex(), "data": "0x" + data.hex()}
        return str(self._rpc.call("eth_sendTransaction", [tx]))

    def send_blobs(self, to: bytes, data: bytes, sidecar: BlobBundle) -> str:
        """A type-3 transaction calling `to` with `data`, carrying `sidecar`'s blobs."""
        blob_base_fee = int(str(self._rpc.call("eth_blobBaseFee")), 16)
        tx = {
            "from": self.address,
            "to": "0x" + to.hex(),
            "data": "0x" + data.hex(),
            # The event costs ~35k gas plus a word per blob; estimation cannot see blobs.
            "gas": hex(100_000 + 5_000 * len(sidecar.blobs)),
            "maxFeePerBlobGas": hex(2 * blob_base_fee + 1),
            "blobVersionedHashes": ["0x" + h.hex() for h in sidecar.versioned_hashes],
            "blobs": ["0x" + b.hex() for b in sidecar.blobs],
            "commitments": ["0x" + c.hex() for c in sidecar.commitments],
            "proofs": ["0x" + p.hex() for p in sidecar.proofs],
        }
        return str(self._rpc.call("eth_sendTransaction", [tx]))
