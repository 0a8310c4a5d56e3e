"""What exporting traces and metrics costs: the runtime HTTP bench with telemetry off and on.

Runs bench/runtime_http_bench.py (three services in their own processes, the
instant model) in alternation: with no OTEL_* variables (no SDK installed, the
OpenTelemetry API's no-op), and with every span sampled and exported over OTLP/gRPC
to a local receiver (anima_dev.otlp_receiver, in this process), metrics every
second. Alternating the runs spreads the shared machine's drift over both.
Printed per run: messages/s, the client's p50 latency, and the CPU each service used
per message (from the HTTP bench's own table: the figure least moved by other work
on a shared machine); then medians, and what the receiver got.

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/telemetry_bench.py [--rounds 2] [--duration 10] [--rooms 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from machine import machine  # bench/machine.py, beside this script

from anima_dev.otlp_receiver import otlp_receiver

HTTP_BENCH = Path(__file__).with_name("runtime_http_bench.py")
RATE = re.compile(r"messages/s\s+([0-9.]+)")
LATENCY = re.compile(r"latency \(client\)\s+p50\s+([0-9.]+)")
CPU = re.compile(r"^\s+(\S+)\s+\d+%.*?([0-9.]+) ms/message$", re.MULTILINE)


class Run(NamedTuple):
    rate: float  # messages/s
    p50_ms: float
    cpu_ms: dict[str, float]  # process (or "all") -> CPU ms per message


def run(duration: int, rooms: int, extra_env: dict[str, str]) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra_env)
    command = [sys.executable, str(HTTP_BENCH), "--duration", str(duration)]
    command += ["--rooms", str(rooms), "--defaults-duration", "0"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"runtime_http_bench failed:\n{out.stderr[-2000:]}")
    rate, latency = RATE.search(out.stdout), LATENCY.search(out.stdout)
    if rate is None:
        raise SystemExit(f"no messages/s in:\n{out.stdout[-2000:]}")
    cpu = {name: float(ms) for name, ms in CPU.findall(out.stdout)}
    return Run(float(rate.group(1)), float(latency.group(1)) if latency else float("nan"), cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rooms", type=int, default=20)
    args = parser.parse_args()
    print(f"telemetry bench on {machine()}")
    with otlp_receiver() as (endpoint, received):
        exporting = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
        results: dict[str, list[Run]] = {"off": [], "on": []}
        for n in range(args.rounds):
            for label, env in (("off", {}), ("on", exporting)):
                result = run(args.duration, args.rooms, env)
                results[label].append(result)
                cpu = "  ".join(f"{k} {v:.1f}" for k, v in result.cpu_ms.items())
                print(
                    f"  round {n + 1} telemetry {label:<3}  {result.rate:6.1f} msg/s  "
                    f"p50 {result.p50_ms:6.1f} ms  CPU ms/message: {cpu}"
                )
        spans = received.span_list()
    for label, runs in results.items():
        rate = statistics.median(r.rate for r in runs)
        cpu = statistics.median(r.cpu_ms.get("all", float("nan")) for r in runs)
        print(f"telemetry {label:<3} median {rate:6.1f} msg/s, {cpu:.1f} CPU ms/message (all)")
    services = sorted({s.service for s in spans})
    print(f"receiver got {len(spans)} spans from {', '.join(services)}")


if __name__ == "__main__":
    main()
