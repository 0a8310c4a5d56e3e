"""DA cost per KiB of life data on the dev chain (anvil): calldata vs EIP-4844 blobs.

Posts random bytes (sealed chunks are ciphertext: incompressible, ~all non-zero) through
the real backends, sums each receipt's gas and blob gas, and prices them at anvil's base
fee and blob base fee. For comparison, focEliza posts hex of hex in calldata: about
80 gas per plaintext byte. Also times signing a type-3 transaction the way a signer
would (RLP + one secp256k1 signature over the body; the sidecar is built once, with
the trusted setup loaded once) vs eth-account's blob path (anvil signs in dev).

Usage: .venv/bin/python bench/da_cost_bench.py
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from pathlib import Path

from machine import machine

from anima_dasync.backends.blob_codec import bundle, trusted_setup
from anima_dev.da_chain import deploy_life_data_da, dev_chain_backend
from anima_dev.local_chain import local_chain

SIZES_KIB = (4, 64, 512)
FOCELIZA_GAS_PER_BYTE = 80


def _receipts_since(chain, block: int) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    receipts = []
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    for number in range(block + 1, head + 1):
        found = chain.rpc("eth_getBlockByNumber", [hex(number), False])
        for tx in found["transactions"]:
            receipts.append(chain.rpc("eth_getTransactionReceipt", [tx]))
    return receipts


def main() -> None:
    print(machine())
    with tempfile.TemporaryDirectory() as tmp, local_chain(Path(tmp) / "anvil") as chain:
        contract = deploy_life_data_da(chain)
        for kind in ("calldata", "blobs"):
            backend = dev_chain_backend(chain, contract, kind=kind, state_dir=Path(tmp) / kind)
            backend.put_chunk(*_chunk(100))  # warm up: funding, first contract call
            for kib in SIZES_KIB:
                chunk_id, data = _chunk(kib * 1024)
                start = int(str(chain.rpc("eth_blockNumber")), 16)
                backend.put_chunk(chunk_id, data)
                receipts = _receipts_since(chain, start)
                gas = sum(int(r["gasUsed"], 16) for r in receipts)
                blob_gas = sum(int(r.get("blobGasUsed") or "0x0", 16) for r in receipts)
                fee = sum(
                    int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)
                    + int(r.get("blobGasUsed") or "0x0", 16)
                    * int(r.get("blobGasPrice") or "0x0", 16)
                    for r in receipts
                )
                print(
                    f"{kind:8} {kib:4} KiB: {len(receipts)} tx, gas {gas / kib:,.0f}/KiB "
                    f"({gas / len(data):.1f}/byte), blob gas {blob_gas / kib:,.0f}/KiB, "
                    f"fee {fee / kib / 1e9:,.1f} gwei/KiB at anvil's fees"
                )
    print(
        f"focEliza (hex of hex in calldata): ~{FOCELIZA_GAS_PER_BYTE * 1024:,} gas/KiB of plaintext"
    )
    _signing_times()


def _chunk(size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    return hashlib.sha256(data).hexdigest(), data


def _signing_times() -> None:
    import coincurve
    import rlp
    from eth_account import Account
    from eth_utils.crypto import keccak

    trusted_setup.cache_clear()
    started = time.process_time()
    trusted_setup()
    print(f"trusted setup load (once per process): {time.process_time() - started:.2f} s CPU")
    sidecar = bundle(os.urandom(100_000))
    key = coincurve.PrivateKey(secrets.token_bytes(32))  # throwaway: never used on a chain
    body = [31337, 0, 1, 2, 100_000, bytes(20), 0, b"", [], 1, list(sidecar.versioned_hashes)]
    started = time.process_time()
    for _ in range(100):
        signature = key.sign_recoverable(keccak(b"\x03" + rlp.encode(body)), hasher=None)
        rlp.encode([[*body, signature[64], 1, 1], list(sidecar.blobs), [], []])
    ours = (time.process_time() - started) / 100
    started = time.process_time()
    bundle(os.urandom(100_000))
    sidecar_s = time.process_time() - started
    tx = {
        "type": 3, "chainId": 31337, "nonce": 0, "gas": 100_000, "maxFeePerGas": 2,
        "maxPriorityFeePerGas": 1, "maxFeePerBlobGas": 1, "to": "0x" + "00" * 20, "value": 0,
        "data": "0x",
    }  # fmt: skip
    started = time.process_time()
    Account.sign_transaction(tx, key.secret, blobs=list(sidecar.blobs))
    theirs = time.process_time() - started
    print(
        f"type-3 signing, 1 blob: ours {ours * 1000:.2f} ms CPU (+ sidecar commitment and "
        f"proof {sidecar_s * 1000:.0f} ms CPU), eth-account {theirs:.2f} s CPU"
    )


if __name__ == "__main__":
    main()
