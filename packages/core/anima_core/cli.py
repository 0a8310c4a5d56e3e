"""One way to build and run a command line: `-v`, logging to stderr, dispatch to `func`.

Each service's entry point (anima-signer, anima-memory, anima-runtime) and the dev
stack's umbrella `anima` command are built with it from the same registrars.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
    Registrar = Callable[[SubParsers], object]


def build_parser(
    prog: str, description: str, registrars: Sequence[Registrar]
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in registrars:
        register(commands)
    return parser


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    code: int = args.func(args)
    return code
