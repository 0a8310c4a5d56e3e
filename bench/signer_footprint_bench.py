"""The signer's footprint: what its environment holds and what its process loads.

Builds a fresh environment holding the signer's distribution and what it
declares (anima_dev.service_env: the workspace wheels it names, the rest from
the package index through uv's cache), starts `anima-signer serve` (INSECURE
simulated TEE) until it is ready, stops it, and prints: the distributions
installed, the bytes under site-packages, and the modules the process loaded.

With --before REV it measures the same for the single-distribution tree at git
revision REV (one pyproject.toml for everything, `anima signer serve` through
the umbrella command), for comparison; `--before 2a75df5` is the layout before
the workspace. Not a pass/fail test.
Usage: python bench/signer_footprint_bench.py [--before REV]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

from machine import machine  # bench/machine.py, beside this script

from anima_dev.local_signer import local_signer
from anima_dev.service_env import (
    REPO_ROOT,
    build_wheels,
    closure,
    create_env,
    installed_distributions,
    module_dump_program,
    site_packages_bytes,
    top_level,
    workspace_members,
)

HOST_ONLY = ("fastapi", "uvicorn", "starlette", "onnxruntime", "numpy", "qdrant_edge")
HOST_ONLY += ("qdrant_client", "tokenizers", "anima_runtime", "anima_memory", "anima_dev")


def _this_tree(work: Path) -> tuple[Path, tuple[str, ...]]:
    members = workspace_members()
    needed = closure(members, ["anima-signer"])
    wheels = build_wheels(needed, work / "wheels")
    python = create_env(work / "signer-env", [wheels[m.name] for m in needed])
    return python, (members["anima-signer"].scripts["anima-signer"],)


def _umbrella(work: Path, revision: str) -> tuple[Path, tuple[str, ...]]:
    tree = work / "umbrella-src"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", revision], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    python = create_env(work / "umbrella-env", [tree])
    return python, (project["scripts"]["anima"], "signer")


def _measure(label: str, python: Path, command: tuple[str, ...], work: Path) -> None:
    entry_point, *subcommand = command
    state = Path(tempfile.mkdtemp(prefix="state-", dir=work))
    modules_file = state / "modules.txt"
    program = (*module_dump_program(python, entry_point, modules_file), *subcommand)
    started = time.monotonic()
    with local_signer(state, program=program):
        ready_s = time.monotonic() - started
    modules = modules_file.read_text().split()
    loaded = top_level(modules)
    distributions = installed_distributions(python)
    size = site_packages_bytes(python)
    print(f"\n{label}")
    print(f"  distributions installed   {len(distributions)}")
    print(f"  site-packages             {size:,} bytes ({size / 2**20:.0f} MiB)")
    print(f"  modules loaded            {len(modules):,} ({len(loaded)} top-level)")
    anima = sorted(name for name in loaded if name.startswith("anima"))
    print(f"  anima packages loaded     {', '.join(anima)}")
    print(f"  host-only modules loaded  {', '.join(sorted(set(HOST_ONLY) & loaded)) or 'none'}")
    print(f"  ready after               {ready_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", metavar="REV", help="also measure the tree at git REV")
    args, _ = parser.parse_known_args()  # ./dev bench passes its arguments to every bench
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="anima-footprint-") as tmp:
        work = Path(tmp)
        python, command = _this_tree(work)
        _measure("signer (anima-signer, its own environment)", python, command, work)
        if args.before:
            python, command = _umbrella(work, args.before)
            _measure(f"signer at {args.before} (umbrella install)", python, command, work)


if __name__ == "__main__":
    main()
