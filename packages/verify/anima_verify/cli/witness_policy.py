"""The witness policy of the `anima log` verifiers: `--witness VKEY` (repeatable) and
`--quorum N`, or `--insecure-unwitnessed`. One of the two is required: a checkpoint
without witnesses' cosignatures can come from a signer whose state was rolled back
(a forked log), so accepting one is a choice a verifier names."""

from __future__ import annotations

import argparse
from pathlib import Path

from anima_verify.tlog.cosignature import CosignerKey, WitnessPolicy, parse_cosigner_key
from anima_verify.tlog.errors import MalformedCosignature


def add_witness_policy(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--witness",
        metavar="VKEY",
        type=witness_argument,
        action="append",
        help="a trusted witness's cosigner key (name+keyid+base64, algorithm 0x04) or a "
        "file holding one; repeatable",
    )
    group.add_argument(
        "--insecure-unwitnessed",
        action="store_true",
        help="INSECURE: accept checkpoints no witness cosigned (a rolled-back signer can "
        "then show a forked log)",
    )
    parser.add_argument(
        "--quorum",
        type=int,
        metavar="N",
        help="how many of the --witness keys must have cosigned (default: all of them)",
    )


def witness_argument(text: str) -> CosignerKey:
    path = Path(text)
    try:
        if path.is_file():
            text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read witness key file {text}: {exc}") from None
    try:
        return parse_cosigner_key(text)
    except MalformedCosignature as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def witness_policy(args: argparse.Namespace) -> WitnessPolicy:
    """The policy the arguments name; ValueError for a quorum that does not fit."""
    if args.insecure_unwitnessed:
        if args.quorum is not None:
            raise ValueError("--quorum needs --witness keys, not --insecure-unwitnessed")
        return WitnessPolicy.insecure_unwitnessed()
    witnesses: list[CosignerKey] = args.witness
    quorum = len(witnesses) if args.quorum is None else args.quorum
    if not 1 <= quorum <= len(witnesses):
        raise ValueError(f"--quorum must be between 1 and the {len(witnesses)} --witness keys")
    return WitnessPolicy(tuple(witnesses), quorum)
