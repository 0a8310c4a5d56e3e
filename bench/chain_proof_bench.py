"""Chain-proof verification (anima_verify.chain) on answers from a real anvil.

Starts anvil (prague) on a free loopback port, funds N fresh accounts (anvil_setBalance,
one block) and stores M slots in a contract, so the state and storage tries are a few
levels deep, then times on one core (this process, one thread):
- verify_account_proof on eth_getProof answers (JSON-RPC dicts in, Account out);
- the Merkle-Patricia walk alone (the same proofs, nodes already decoded from hex);
- verify_storage_proof; verify_header; verify_receipts and verify_transactions on a
  block of K transactions.
Prints figures and the machine; not a pass/fail test.
Usage: python bench/chain_proof_bench.py [--accounts 500] [--slots 200] [--txs 50] [--seconds 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: anvil

from eth_utils.crypto import keccak
from machine import machine  # bench/machine.py, beside this script

from anima_verify.chain._trie import proven_value
from anima_verify.chain.header import verify_header
from anima_verify.chain.proofs import verify_account_proof, verify_storage_proof
from anima_verify.chain.receipts import verify_receipts
from anima_verify.chain.transactions import verify_transactions
from tests.chain.verify.conftest import slot_hex, store_call
from tests.chain.verify.devchain import DevChain, anvil


def rate(label: str, items: int, run: Callable[[], object], seconds: float) -> None:
    """Repeats `run` (which handles `items` things) for about `seconds`; prints the rate
    by this process's CPU time (what one core does, even when others share the
    machine) and by the wall clock."""
    rounds, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        run()
        rounds += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    cpu = (time.process_time() - cpu_start) / (rounds * items)
    wall = elapsed / (rounds * items)
    print(
        f"{label}: {1 / cpu:,.0f}/s per CPU second ({cpu * 1e6:.1f} µs each),"
        f" {1 / wall:,.0f}/s wall"
    )


def populate(chain: DevChain, accounts: int, slots: int, txs: int) -> tuple[str, list[str]]:
    rng = random.Random(7)
    funded = ["0x" + rng.randbytes(20).hex() for _ in range(accounts)]
    for address in funded:
        chain.call("anvil_setBalance", address, hex(rng.randrange(1, 10**21)))
    contract = chain.deploy_store_and_log()
    for first in range(0, slots, 50):
        chain.send_in_one_block(
            *(
                {"to": contract, "data": store_call(s + 1, s)}
                for s in range(first, min(slots, first + 50))
            )
        )
    chain.send_in_one_block(*({"to": funded[i], "value": hex(i + 1)} for i in range(txs)))
    return contract, funded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--slots", type=int, default=200)
    parser.add_argument("--txs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with anvil(hardfork="prague") as chain:
        contract, funded = populate(chain, args.accounts, args.slots, args.txs)
        head = chain.block("latest")
        number = head["number"]
        sample = funded[:200]
        proofs = [chain.call("eth_getProof", a, [], number) for a in sample]
        storage = chain.call(
            "eth_getProof", contract, [slot_hex(s) for s in range(args.slots)], number
        )
        receipts = chain.call("eth_getBlockReceipts", number)

    header = verify_header(head)
    addresses = [bytes.fromhex(a[2:]) for a in sample]
    depth = sum(len(p["accountProof"]) for p in proofs) / len(proofs)
    size = sum(len(n) // 2 - 1 for p in proofs for n in p["accountProof"]) / len(proofs)
    print(
        f"state: {args.accounts} funded accounts + dev accounts + contract; account proofs"
        f" {depth:.1f} nodes, {size:,.0f} bytes on average; storage: {args.slots} slots,"
        f" proofs {sum(len(e['proof']) for e in storage['storageProof']) / args.slots:.1f} nodes"
    )

    def accounts() -> None:
        for address, proof in zip(addresses, proofs, strict=True):
            verify_account_proof(header.state_root, address, proof)

    decoded = [
        (keccak(a), [bytes.fromhex(n[2:]) for n in p["accountProof"]])
        for a, p in zip(addresses, proofs, strict=True)
    ]

    def walks() -> None:
        for key, nodes in decoded:
            proven_value(header.state_root, key, nodes)

    account = verify_account_proof(header.state_root, bytes.fromhex(contract[2:]), storage)
    entries = list(enumerate(storage["storageProof"]))

    def slots() -> None:
        for slot, entry in entries:
            verify_storage_proof(account.storage_root, slot, entry)

    rate("verify_account_proof (eth_getProof JSON in)", len(proofs), accounts, args.seconds)
    rate("  of which the trie walk (decoded nodes in)", len(decoded), walks, args.seconds)
    rate("verify_storage_proof", len(entries), slots, args.seconds)
    rate("verify_header (prague)", 1, lambda: verify_header(head), args.seconds)
    rate(
        f"verify_receipts, block of {len(receipts)}",
        1,
        lambda: verify_receipts(header, receipts),
        args.seconds,
    )
    rate(
        f"verify_transactions, block of {len(head['transactions'])}",
        1,
        lambda: verify_transactions(header, head["transactions"]),
        args.seconds,
    )


if __name__ == "__main__":
    main()
