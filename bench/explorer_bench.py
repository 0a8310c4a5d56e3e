"""First verified view of a 100,000-entry log in the browser (the log explorer).

Builds a C2SP tiled log of N Anima entries with the test writer
(tests/web/conftest.py), publishes it as static files beside the explorer's
assets on a loopback HTTP server (the explorer reads only tlog-tiles paths for
the log; the log key is pinned in the URL since a static host has no
attestation route), and opens the page in Debian's Chromium (headless, through
playwright-core, a fresh browser context per run: nothing cached, no earlier
visit). Prints, per run and as a median, the time from navigation start to the
last visible entry (the newest PAGE_SIZE) verified: the checkpoint's signature,
every shown entry's leaf hash against its hash tile and its inclusion proof
against the signed root. Not a pass/fail test; figures are noisy on a shared CPU.
Usage: python bench/explorer_bench.py [--entries N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from machine import machine  # bench/machine.py, beside this script

from anima_web import assets_dir
from tests.tlog.http_server import serve_directory
from tests.web.conftest import CHROMIUM_CANDIDATES, write_anima_log

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "web" / "explorer_browser.mjs"
AGENT = "bench-agent"


def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    sys.exit("Chromium is not installed: apt-get install chromium")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="anima-explorer-bench-") as tmp:
        site = Path(tmp)
        start = time.perf_counter()
        log = write_anima_log(site / "v1" / "logs" / AGENT, args.entries, agent=AGENT).log
        print(f"built a {args.entries:,}-entry log in {time.perf_counter() - start:.1f} s")
        shutil.copytree(assets_dir(), site / "explorer")
        with serve_directory(site) as base:
            page = f"{base}explorer/?agent={AGENT}&key={quote(log.vkey)}"
            visits = [
                {"name": f"bench-{i}", "url": page, "context": f"run-{i}"} for i in range(args.runs)
            ]
            with tempfile.TemporaryDirectory() as shots:
                env = {
                    **os.environ,
                    "ANIMA_CHROMIUM": chromium(),
                    "ANIMA_EXPLORER_ARTIFACTS": shots,
                    "ANIMA_EXPLORER_VISITS": json.dumps(visits),
                }
                out = subprocess.run(
                    ["node", str(DRIVER)],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=True,
                ).stdout
    results = json.loads(next(x for x in out.splitlines() if x.startswith("RESULTS "))[8:])
    figures = []
    for name, result in results.items():
        rows = result["rows"]
        ok = all(r["status"] == "included" for r in rows)
        assert ok and rows[0]["index"] == args.entries - 1, (
            f"{name}: not verified: {result['detail']}"
        )
        since_nav = result["lastVisibleVerifiedSinceNavigationMs"]
        t = result["timings"]
        figures.append(since_nav)
        print(
            f"{name}: last visible entry verified {since_nav:.0f} ms after navigation "
            f"(explorer start to: key {t['keyMs']:.0f} ms, checkpoint {t['checkpointMs']:.0f} ms, "
            f"{len(rows)} entries verified {t['lastVisibleVerifiedMs']:.0f} ms)"
        )
    median, low, high = statistics.median(figures), min(figures), max(figures)
    print(
        f"first verified view of a {args.entries:,}-entry log ({len(rows)} newest entries shown): "
        f"median {median:.0f} ms, min {low:.0f}, max {high:.0f} over {len(figures)} cold runs"
    )


if __name__ == "__main__":
    main()
