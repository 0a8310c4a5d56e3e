"""Full audit of a tiled log and proof construction from its tiles.

Builds a tiled log of N entries (~200 bytes each) in a temporary directory with
the test writer (tests/tlog/tiled_log.py), then times:
- verify_tiled_log: checkpoint signature, every entry, every hash tile, the root;
- the same over HTTP (a stdlib server on loopback, in this process);
- TileHashReader inclusion and consistency proofs on that log, p50/p99 over
  random queries with a warm tile cache.
Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/log_verify_bench.py [--entries N] [--queries N] [--no-http]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: its writer


from machine import machine  # bench/machine.py, beside this script

from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.merkle import consistency_proof, inclusion_proof
from anima_verify.tlog.note import parse_verifier_key
from anima_verify.tlog.reader import DirectorySource, HttpSource, TileHashReader, TileSource
from anima_verify.tlog.verify import verify_tiled_log
from tests.tlog.http_server import serve_directory
from tests.tlog.tiled_log import sample_entry, write_tiled_log


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
    return p50 / 1000, p99 / 1000


def time_queries(queries: int, query: Callable[[], object]) -> tuple[float, float]:
    samples = []
    for _ in range(queries):
        start = time.perf_counter_ns()
        query()
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


def bench_verify(label: str, source: TileSource, vkey: str, size: int) -> None:
    start = time.perf_counter()
    report = verify_tiled_log(
        source, [parse_verifier_key(vkey)], witnesses=WitnessPolicy.insecure_unwitnessed()
    )
    seconds = time.perf_counter() - start
    assert report.entries_checked == size
    print(
        f"verify_tiled_log ({label}): {seconds:.2f} s, {size / seconds:,.0f} entries/s, "
        f"{report.tiles_checked} hash tiles, {report.bundles_checked} bundles"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=200)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP run")
    args = parser.parse_args()
    size: int = args.entries
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="anima-log-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        log = write_tiled_log(root, size, entry=lambda i: sample_entry(i, args.entry_bytes))
        on_disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        print(
            f"built a {size:,}-entry log ({args.entry_bytes}-byte entries, "
            f"{on_disk / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s"
        )

        bench_verify("directory", DirectorySource(root), log.vkey, size)
        if not args.no_http:
            with serve_directory(root) as url, HttpSource(url) as http:
                bench_verify("HTTP, loopback", http, log.vkey, size)

        reader = TileHashReader(DirectorySource(root), size)
        rng = random.Random(7)
        start = time.perf_counter()
        for level in range(0, 3):  # warm: every tile a proof can touch
            for index in range(-(-(size >> (8 * level)) // 256)):
                reader.node(8 * level, min(index * 256, (size >> (8 * level)) - 1))
        print(f"tile cache warmed in {time.perf_counter() - start:.2f} s")
        p50, p99 = time_queries(
            args.queries, lambda: inclusion_proof(reader, rng.randrange(size), size)
        )
        print(f"inclusion proof, size {size:,}: p50 {p50:.1f} us, p99 {p99:.1f} us")
        p50, p99 = time_queries(
            args.queries, lambda: consistency_proof(reader, rng.randrange(1, size), size)
        )
        print(f"consistency proof to size {size:,}: p50 {p50:.1f} us, p99 {p99:.1f} us")


if __name__ == "__main__":
    main()
