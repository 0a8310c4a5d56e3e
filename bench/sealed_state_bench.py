"""The sealed signer state: what sealing costs per row, and what opening a large
state costs (every row hashed and checked against its agent's sealed head).

(a) writes: transactions of --batch idempotency records (a signature's record is
    one row), sealed and committed with the agent's new head: rows/s;
(b) reads: a record looked up by key (hash checked, unsealed): p50/p99;
(c) cold open of the store with --rows rows over --agents agents: seconds, rows/s,
    and the memory the in-enclave row index takes (tracemalloc).

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/sealed_state_bench.py [--rows N] [--agents N] [--batch N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from machine import machine  # bench/machine.py, beside this script

from anima_signer.keys import KeyRing
from anima_signer.store import STATE_FILE, SignerStore

RESPONSE = '{"fields": {"log_index": 12, "signature": "' + "ab" * 64 + '"}, "type": "ed25519"}'


def fill(store: SignerStore, rows: int, agents: int, batch: int) -> float:
    """Write `rows` records in transactions of `batch`; seconds taken."""
    start = time.perf_counter()
    written = 0
    while written < rows:
        with store.transaction():
            for _ in range(min(batch, rows - written)):
                agent = f"agent-{written % agents:03d}"
                store.save_idempotent_response(agent, f"key-{written}", b"f" * 32, RESPONSE)
                written += 1
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256, help="rows per transaction")
    parser.add_argument("--lookups", type=int, default=5000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    keyring = KeyRing(root_secret=bytes(range(32)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / STATE_FILE
        store = SignerStore(path=path, keyring=keyring)
        seconds = fill(store, args.rows, args.agents, args.batch)
        print(
            f"(a) writes: {args.rows:,} idempotency records in transactions of {args.batch}: "
            f"{args.rows / seconds:,.0f} rows/s ({seconds * 1e6 / args.rows:.1f} us/row incl. "
            "the fsynced commit)"
        )
        latencies = []
        for n in range(args.lookups):
            i = (n * 7919) % args.rows
            start = time.perf_counter()
            found = store.idempotent_response(f"agent-{i % args.agents:03d}", f"key-{i}")
            latencies.append(time.perf_counter() - start)
            assert found is not None
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)]
        print(
            f"(b) reads: {args.lookups:,} lookups by key: p50 "
            f"{statistics.median(latencies) * 1e6:.1f} us, p99 {p99 * 1e6:.1f} us"
        )
        store.close()
        size = path.stat().st_size
        start = time.perf_counter()
        reopened = SignerStore(path=path, keyring=KeyRing(root_secret=bytes(range(32))))
        opened = time.perf_counter() - start
        assert reopened.refused() == {}
        reopened.close()
        tracemalloc.start()  # a second open, for the memory alone (tracemalloc slows it)
        reopened = SignerStore(path=path, keyring=KeyRing(root_secret=bytes(range(32))))
        memory = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        reopened.close()
        print(
            f"(c) cold open: {args.rows:,} rows over {args.agents} agents ({size / 2**20:.1f} MiB "
            f"file): {opened:.2f} s, {args.rows / opened:,.0f} rows/s "
            f"checked; row index in memory {memory / 2**20:.1f} MiB "
            f"({memory / args.rows:.0f} B/row)"
        )


if __name__ == "__main__":
    main()
