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
import resource
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


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """p50 and p99 wall time and p50 process CPU time, in ms. On a shared machine the
    CPU time is the steadier figure: it leaves out the time other processes ran."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
        fn()
        cpu.append(time.process_time_ns() - start_cpu)
        wall.append(time.perf_counter_ns() - start)
    wall.sort()
    cpu.sort()
    p99 = wall[min(len(wall) - 1, len(wall) * 99 // 100)]
    return wall[len(wall) // 2] / 1e6, p99 / 1e6, cpu[len(cpu) // 2] / 1e6


def figures(timing: tuple[float, float, float]) -> str:
    wall_p50, wall_p99, cpu_p50 = timing
    return f"p50 {wall_p50:6.2f} ms  p99 {wall_p99:6.2f} ms  (CPU p50 {cpu_p50:6.2f} ms)"


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

    decode = timed(lambda: decode_ssz(CONFIG, "update", raw, fork="electra"), args.repeat)
    both = timed(fresh, args.repeat)
    verify = timed(lambda: process_update(store, update, slot), args.repeat)
    from anima_verify.beacon.config import compute_signing_root
    from anima_verify.beacon.sync import participation_bits

    keys = bls.COMMITTEE_KEYS.get(bytes(store.current_sync_committee.hash_tree_root()), list)
    bits = participation_bits(update)
    signers = [k for i, k in enumerate(keys) if bits >> i & 1]
    message = compute_signing_root(
        bytes(update.attested_header.beacon.hash_tree_root()), CONFIG.sync_committee_domain(slot)
    )
    signature = bytes(update.sync_aggregate.sync_committee_signature)
    pairing = timed(lambda: bls.fast_aggregate_verify(signers, message, signature), args.repeat)
    print("update verification (512-key aggregate, finality + committee branches), mainnet preset:")
    print(f"  process_update, committee keys cached:  {figures(verify)}")
    print(f"    of which BLS FastAggregateVerify:    {figures(pairing)}")
    print(f"  SSZ decode + upgrade + process_update:  {figures(both)}")
    print(f"    of which SSZ decode + upgrade:       {figures(decode)}")
    print(f"  first update of a committee (parses its 512 keys): {cold_ms:.1f} ms")

    # Sync from bootstrap through the periods, from bytes, cold key cache.
    bls.COMMITTEE_KEYS = bls._CommitteeKeys()
    tracemalloc.start()
    begin, begin_cpu = time.perf_counter(), time.process_time()
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
    elapsed, elapsed_cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert MAINNET_PRESET.period_at_slot(store.finalized_slot) == args.periods
    print(
        f"sync bootstrap -> {args.periods} periods "
        f"({len(wire)} updates + 1 finality update, from SSZ): "
        f"{elapsed * 1e3:.0f} ms total (CPU {elapsed_cpu * 1e3:.0f} ms), "
        f"{elapsed * 1e3 / (len(wire) + 1):.1f} ms per update, "
        f"peak Python memory {peak / 2**20:.1f} MiB"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process peak RSS {rss:.0f} MiB (the whole bench, key generation included)")
    print("  (each new committee's 512 keys parsed once: the cold cost above is in this total)")


if __name__ == "__main__":
    main()
