"""`anima`: the command line of the product. Each area registers its own subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from anima_cli import attest, demo, log
from anima_memory import cli as memory_cli
from anima_runtime import cli as runtime_cli
from anima_runtime.character import cli as character_cli
from anima_runtime.log import cli as log_cli
from anima_signer import cli as signer_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anima", description="Keep an autonomous agent alive and honest."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    attest.register(commands)
    signer_cli.register(commands)
    memory_cli.register(commands)
    character_cli.register(commands)
    demo.register(commands)
    log_cli.register_serve(log.register(commands))
    runtime_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
