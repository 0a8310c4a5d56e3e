"""First verified view of a 100,000-entry log in the browser (the log explorer).

Opens the explorer in Debian's Chromium (headless, through playwright-core, a
fresh browser context per run: nothing cached, no earlier visit) over a log of
N entries served two ways:
- runtime: a log built through the in-process signer and the host's tile store
  (bench/log_bench.py's builder), served by the runtime's log app under uvicorn
  in its own process, which also serves the page and fresh (simulated)
  attestation evidence binding the log key;
- static: a tiled log of Anima entries written by the test writer, published as
  plain files beside the page (the log key pinned in the URL, since a static
  host has no attestation route).
Prints, per run and as a median, the time from navigation start to the last
visible entry (the newest 50) verified: attestation or pinned key, the
checkpoint's signature, every shown entry's leaf hash against its hash tile and
its inclusion proof against the signed root. Not a pass/fail test; figures are
noisy on a shared CPU.
Usage: python bench/explorer_bench.py [--entries N] [--runs N] [--only runtime|static]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from log_bench import AGENT as RUNTIME_AGENT  # bench/log_bench.py: its builder and server
from log_bench import build_big_log
from machine import machine  # bench/machine.py, beside this script

from anima_verify.tlog.cosignature import add_cosignatures, cosign, cosigner_verifier_key
from anima_verify.tlog.note import parse_note
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


def open_pages(page: str, runs: int) -> dict[str, Any]:
    """Open `page` in `runs` fresh browser contexts; the driver's results per run."""
    visits = [{"name": f"run-{i}", "url": page, "context": f"run-{i}"} for i in range(runs)]
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
    results: dict[str, Any] = json.loads(
        next(x for x in out.splitlines() if x.startswith("RESULTS "))[8:]
    )
    return results


def report(label: str, size: int, results: dict[str, Any], *, state: str = "verified") -> None:
    """`state`: what the page must end in (`unwitnessed` where no witness cosigned)."""
    figures = []
    rows: list[dict[str, Any]] = []
    for name, result in results.items():
        rows = result["rows"]
        if result["state"] != state or rows[0]["index"] != size - 1:
            raise SystemExit(f"{label} {name}: not verified: {result['title']} {result['detail']}")
        since_nav = result["lastVisibleVerifiedSinceNavigationMs"]
        t = result["timings"]
        figures.append(since_nav)
        print(
            f"  {name}: last visible entry verified {since_nav:.0f} ms after navigation "
            f"(explorer start to: key {t['keyMs']:.0f} ms, checkpoint {t['checkpointMs']:.0f} ms, "
            f"{len(rows)} entries verified {t['lastVisibleVerifiedMs']:.0f} ms)"
        )
    median, low, high = statistics.median(figures), min(figures), max(figures)
    print(
        f"{label}: first verified view of a {size:,}-entry log ({len(rows)} newest entries "
        f"shown): median {median:.0f} ms, min {low:.0f}, max {high:.0f} over {len(figures)} "
        "cold runs"
    )


@contextlib.contextmanager
def runtime_log_server(state: Path) -> Iterator[str]:
    """bench/log_bench.py's server (the runtime's log app, uvicorn) in its own process."""
    ready = state / "server.ready"
    child = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "log_bench.py"), "--serve", str(state), str(ready)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the log server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{json.loads(ready.read_text())['port']}/"
    finally:
        child.terminate()
        child.wait()


def bench_runtime(entries: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="anima-explorer-bench-") as tmp:
        state = Path(tmp)
        start = time.perf_counter()
        asyncio.run(build_big_log(state, entries))
        print(f"runtime: built in {time.perf_counter() - start:.1f} s")
        with runtime_log_server(state) as base:
            results = open_pages(f"{base}explorer/?agent={RUNTIME_AGENT}", runs)
    # The in-process signer has no witnesses: the page ends amber, every entry verified.
    report("runtime (log app + attestation, unwitnessed)", entries, results, state="unwitnessed")


def bench_static(entries: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="anima-explorer-bench-") as tmp:
        site = Path(tmp)
        start = time.perf_counter()
        log = write_anima_log(site / "v1" / "logs" / AGENT, entries, agent=AGENT).log
        print(f"static: built a {entries:,}-entry log in {time.perf_counter() - start:.1f} s")
        witness = cosign_checkpoint(site / "v1" / "logs" / AGENT / "checkpoint")
        shutil.copytree(assets_dir(), site / "explorer")
        with serve_directory(site) as base:
            page = f"{base}explorer/?agent={AGENT}&key={quote(log.vkey)}&witness={quote(witness)}"
            results = open_pages(page, runs)
    report("static files (key and witness pinned)", entries, results)


def cosign_checkpoint(path: Path) -> str:
    """Cosign the checkpoint file as a witness would; the witness's verifier key."""
    key = Ed25519PrivateKey.generate()
    name = "bench-witness.local"
    note = parse_note(path.read_bytes())
    cosignature = cosign(note.text, name=name, private_key=key, timestamp=int(time.time()))
    path.write_bytes(add_cosignatures(note, [cosignature]).to_bytes())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return cosigner_verifier_key(name, public)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("runtime", "static"))
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.only != "static":
        bench_runtime(args.entries, args.runs)
    if args.only != "runtime":
        bench_static(args.entries, args.runs)


if __name__ == "__main__":
    main()
