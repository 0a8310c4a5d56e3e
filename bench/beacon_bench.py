"""Beacon light-client verification with the mainnet preset (512-key sync committees).

On a synthetic chain signed by committees whose keys the bench generates
(tests/beacon/chain_builder.py; Electra from genesis, full participation):
- one update verification: process_update on a LightClientUpdate that carries a
  finality branch, a next sync committee and its branch and the 512-key aggregate
  signature (the committee's parsed keys cached, as between updates of a period),
  p50/p99; also its SSZ decoding, a finality update, and the cold first call that
  parses the committee's 512 keys;
- sync from a bootstrap through N periods (default 10): every update decoded from
  SSZ bytes and processed, wall time and peak Python memory (tracemalloc).
Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/beacon_bench.py [--periods N] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: its chain builder

from machine import machine  # bench/machine.py, beside this script

from anima_verify.beacon import bls
from anima_verify.beacon.codec import decode_ssz
from anima_verify.beacon.config import MAINNET_PRESET, ChainConfig
from anima_verify.beacon.sync import initialize_store, process_update
from tests.beacon.chain_builder import SyntheticChain

CONFIG = ChainConfig(
    name="bench-mainnet-preset",
    preset=MAINNET_PRESET,
    genesis_validators_root=bytes.fromhex(
        "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
    ),
    forks={
        name: (bytes([i, 0, 0, 0]), 0)
        for i, name in enumerate(("phase0", "altair", "bellatrix", "capella", "deneb", "electra"))
    },
)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return samples[len(samples) // 2] / 1e6, samples[
        min(len(samples) - 1, len(samples) * 99 // 100)
    ] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    chain = SyntheticChain(CONFIG)
    spp = MAINNET_PRESET.slots_per_period
    start = time.perf_counter()
    bootstrap, root = chain.bootstrap(8)
    wire = [
        (u.encode_bytes(), int(u.signature_slot))
        for u in (chain.period_update(p) for p in range(args.periods + 1))
    ]
    finality = chain.update(
        spp * args.periods + 100, spp * args.periods + 200, kind="finality_update"
    )
    print(
        f"generated {args.periods + 2} committees of 512 keys and their updates "
        f"in {time.perf_counter() - start:.1f} s (not part of the figures)"
    )

    # One update verification, warm committee keys.
    store = initialize_store(
        CONFIG, root, decode_ssz(CONFIG, "bootstrap", bootstrap.encode_bytes(), fork="electra")
    )
    raw, slot = wire[0]
    update = decode_ssz(CONFIG, "update", raw, fork="electra")
    cold = time.perf_counter()
    process_update(store, update, slot)
    cold_ms = (time.perf_counter() - cold) * 1e3

    def fresh() -> object:  # hash_tree_root is cached in a view: time a just-decoded one
        return process_update(store, decode_ssz(CONFIG, "update", raw, fork="electra"), slot)

    decode_p50, _ = timed(lambda: decode_ssz(CONFIG, "update", raw, fork="electra"), args.repeat)
    both_p50, both_p99 = timed(fresh, args.repeat)
    verify_p50, verify_p99 = timed(lambda: process_update(store, update, slot), args.repeat)
    from anima_verify.beacon.config import compute_signing_root
    from anima_verify.beacon.sync import participation_bits

    keys = bls.COMMITTEE_KEYS.get(bytes(store.current_sync_committee.hash_tree_root()), list)
    bits = participation_bits(update)
    signers = [k for i, k in enumerate(keys) if bits >> i & 1]
    message = compute_signing_root(
        bytes(update.attested_header.beacon.hash_tree_root()), CONFIG.sync_committee_domain(slot)
    )
    signature = bytes(update.sync_aggregate.sync_committee_signature)
    bls_p50, bls_p99 = timed(
        lambda: bls.fast_aggregate_verify(signers, message, signature), args.repeat
    )
    print("update verification (512-key aggregate, finality + committee branches), mainnet preset:")
    print(
        f"  process_update, committee keys cached: p50 {verify_p50:.2f} ms  p99 {verify_p99:.2f} ms"
    )
    print(f"    of which BLS FastAggregateVerify: p50 {bls_p50:.2f} ms  p99 {bls_p99:.2f} ms")
    print(
        f"  SSZ decode + upgrade + process_update:  p50 {both_p50:.2f} ms  p99 {both_p99:.2f} ms "
        f"(decode alone p50 {decode_p50:.2f} ms)"
    )
    print(f"  first update of a committee (parses its 512 keys): {cold_ms:.1f} ms")

    # Sync from bootstrap through the periods, from bytes, cold key cache.
    bls.COMMITTEE_KEYS = bls._CommitteeKeys()
    tracemalloc.start()
    begin = time.perf_counter()
    store = initialize_store(
        CONFIG, root, decode_ssz(CONFIG, "bootstrap", bootstrap.encode_bytes(), fork="electra")
    )
    for raw, slot in wire:
        store = process_update(store, decode_ssz(CONFIG, "update", raw, fork="electra"), slot)
    store = process_update(
        store,
        decode_ssz(CONFIG, "finality_update", finality.encode_bytes(), fork="electra"),
        int(finality.signature_slot),
    )
    elapsed = time.perf_counter() - begin
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert MAINNET_PRESET.period_at_slot(store.finalized_slot) == args.periods
    print(
        f"sync bootstrap -> {args.periods} periods "
        f"({len(wire)} updates + 1 finality update, from SSZ): "
        f"{elapsed * 1e3:.0f} ms total, {elapsed * 1e3 / (len(wire) + 1):.1f} ms per update, "
        f"peak Python memory {peak / 2**20:.1f} MiB"
    )
    print("  (each new committee's 512 keys parsed once: the cold cost above is in this total)")


if __name__ == "__main__":
    main()
