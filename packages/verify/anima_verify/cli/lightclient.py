"""`anima lightclient check-vectors`: run consensus-spec-tests light-client sync cases.

For a reviewer holding other cases of the official suite (light_client/sync, any
fork up to Electra, minimal or mainnet preset): each case directory is run against
the light client here and every step is reported.

Exit codes: 0 every step of every case matched; 1 a step did not match (its
reason is printed); 2 a case directory cannot be read (missing files, not YAML,
not snappy, a bootstrap that does not initialize a store).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from anima_verify.beacon.spectest import CaseResult, UnreadableCase, run_case

EXIT_MATCHED = 0
EXIT_MISMATCH = 1
EXIT_UNREADABLE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lightclient check-vectors` to a command line."""
    lightclient = subparsers.add_parser("lightclient", help="beacon-chain light client")
    commands = lightclient.add_subparsers(
        dest="lightclient_command", required=True, metavar="COMMAND"
    )
    check = commands.add_parser(
        "check-vectors",
        help="run consensus-spec-tests light-client sync cases",
        description="Run light-client sync cases (meta.yaml, config.yaml, bootstrap.ssz_snappy, "
        "steps.yaml, update_*.ssz_snappy per directory) and print the steps that matched. "
        "Exit 0 all matched, 1 a step did not, 2 unreadable input.",
    )
    check.add_argument("cases", metavar="CASE_DIR", nargs="+", type=Path, help="a case directory")
    check.add_argument("--json", action="store_true", help="print one JSON object per case")
    check.set_defaults(func=check_vectors_command)


def check_vectors_command(args: argparse.Namespace) -> int:
    """Handler of `anima lightclient check-vectors`; returns the exit code."""
    code = EXIT_MATCHED
    for case in args.cases:
        try:
            result = run_case(case)
        except ImportError as exc:  # the extra anima-verify[vectors] is missing
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        except UnreadableCase as exc:
            print(f"error: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"case": str(case), "readable": False, "error": str(exc)}))
            code = EXIT_UNREADABLE
            continue
        _print(result, as_json=args.json)
        if not result.matched and code == EXIT_MATCHED:
            code = EXIT_MISMATCH
    return code


def _print(result: CaseResult, *, as_json: bool) -> None:
    matched = sum(s.matched for s in result.steps)
    if as_json:
        steps = [
            {"index": s.index, "step": s.name, "matched": s.matched, "detail": s.detail}
            for s in result.steps
        ]
        print(
            json.dumps(
                {
                    "case": str(result.path),
                    "readable": True,
                    "matched": result.matched,
                    "steps": steps,
                }
            )
        )
        return
    print(f"{result.path}: {matched}/{len(result.steps)} steps matched")
    for step in result.steps:
        mark = "ok  " if step.matched else "FAIL"
        line = f"  {mark} {step.index:>3} {step.name}"
        print(f"{line}  {step.detail}" if step.detail else line)
