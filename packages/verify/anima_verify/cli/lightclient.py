"""`anima lightclient`: the beacon-chain light client on the command line.

`check-vectors` runs consensus-spec-tests light-client sync cases, for a reviewer
holding other cases of the official suite (light_client/sync, any fork up to
Electra, minimal or mainnet preset): every step of each case is reported. Exit
codes: 0 every step of every case matched; 1 a step did not match (its reason is
printed); 2 a case directory cannot be read (missing files, not YAML, not snappy,
a bootstrap that does not initialize a store).

`sync` syncs from a checkpoint through a beacon node's light-client REST API and
prints the verified execution heads. Exit codes: 0 synced; 1 the node's data was
refused (or the checkpoint is too old in strict mode); 2 unusable input (a bad
option or chain config, an unusable state file, an unreachable node).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from anima_verify.beacon.config import MAINNET, ChainConfig
from anima_verify.beacon.errors import (
    BeaconApiUnavailable,
    CheckpointTooOld,
    LightClientError,
    LightClientStateUnusable,
)
from anima_verify.beacon.spectest import CaseResult, UnreadableCase, load_chain_config, run_case

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
    sync = commands.add_parser(
        "sync",
        help="sync from a checkpoint through a beacon node and print the verified heads",
        description="Sync from a weak-subjectivity checkpoint through a beacon node's "
        "light-client REST API; print the verified finalized and optimistic execution heads. "
        "Exit 0 synced, 1 refused, 2 unusable input or unreachable node.",
    )
    sync.add_argument("--beacon-url", required=True, help="the beacon node's REST API base URL")
    sync.add_argument("--checkpoint", required=True, type=_root, help="trusted block root, 0x-hex")
    sync.add_argument(
        "--chain-config",
        type=Path,
        help="a consensus-specs config.yaml for another network than mainnet "
        "(with --genesis-validators-root)",
    )
    sync.add_argument("--genesis-validators-root", type=_root, help="with --chain-config")
    sync.add_argument("--state", type=Path, help="state file: resume from it, keep the store in it")
    sync.add_argument(
        "--strict-checkpoint-age",
        action="store_true",
        help="refuse a checkpoint older than two weeks (by default: a warning)",
    )
    sync.add_argument("--ssz", action="store_true", help="ask the node for SSZ instead of JSON")
    sync.add_argument("--json", action="store_true", help="print one JSON object")
    sync.set_defaults(func=sync_command)


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


def sync_command(args: argparse.Namespace) -> int:
    """Handler of `anima lightclient sync`; returns the exit code."""
    from anima_verify.beacon.client import LightClient, execution_head
    from anima_verify.beacon.rest import BeaconApi

    try:
        config = _chain(args)
        api = BeaconApi(args.beacon_url, config, ssz=args.ssz)
    except (UnreadableCase, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    client = LightClient(
        config=config,
        api=api,
        checkpoint=args.checkpoint,
        state_path=args.state,
        strict_checkpoint_age=args.strict_checkpoint_age,
    )
    try:
        store = client.sync()
    except (BeaconApiUnavailable, LightClientStateUnusable) as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_UNREADABLE
    except (LightClientError, CheckpointTooOld) as exc:
        print(f"refused: {type(exc).__name__}: {exc.message}", file=sys.stderr)
        return EXIT_MISMATCH
    finally:
        api.close()
    heads: dict[str, dict[str, object]] = {}
    for name, header, final in (
        ("finalized", store.finalized_header, True),
        ("optimistic", store.optimistic_header, False),
    ):
        try:
            head = execution_head(config, header, finalized=final)
        except ValueError:
            heads[name] = {"beacon_slot": int(header.beacon.slot), "execution": None}
            continue
        heads[name] = {
            "beacon_slot": head.beacon_slot,
            "beacon_root": "0x" + head.beacon_root.hex(),
            "block_number": head.block_number,
            "block_hash": "0x" + head.block_hash.hex(),
            "state_root": "0x" + head.state_root.hex(),
            "receipts_root": "0x" + head.receipts_root.hex(),
        }
    if args.json:
        print(json.dumps(heads))
    else:
        for name, fields in heads.items():
            print(f"{name}:")
            for key, value in fields.items():
                print(f"  {key:<14} {value}")
    return EXIT_MATCHED


def _chain(args: argparse.Namespace) -> ChainConfig:
    if args.chain_config is None:
        return MAINNET
    if args.genesis_validators_root is None:
        raise ValueError("--chain-config needs --genesis-validators-root")
    return load_chain_config(args.chain_config, args.genesis_validators_root)


def _root(text: str) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None
    if len(value) != 32:
        raise argparse.ArgumentTypeError("must be 32 bytes of 0x-hex")
    return value
