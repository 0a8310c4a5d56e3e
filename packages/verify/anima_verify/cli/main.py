"""`anima-verify`: check an Anima agent's log and attestation with nothing else installed.

The same commands are `anima log verify|audit|verify-note`, `anima attest verify` and
`anima lightclient check-vectors` in the dev stack's umbrella command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from anima_verify.cli import attest, lightclient, log


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anima-verify", description="Verify an Anima agent's log and attestation."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    log.register(commands)
    attest.register(commands)
    lightclient.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
