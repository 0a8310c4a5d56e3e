"""`anima-runtime`: the runtime's own entry point (serve, new-token, character, log serve)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from anima_core.cli import build_parser, run
from anima_runtime import cli
from anima_runtime.character import cli as character_cli
from anima_runtime.log import cli as log_cli

if TYPE_CHECKING:
    from anima_core.cli import SubParsers


def _log(commands: SubParsers) -> None:
    log = commands.add_parser("log", help="store and serve agents' logs")
    log_cli.register_serve(log.add_subparsers(dest="log_command", required=True, metavar="COMMAND"))


def command_line() -> argparse.ArgumentParser:
    """The command line (tests/deploy parses the manifests' arguments with it)."""
    return build_parser(
        "anima-runtime",
        "Anima's agent runtime.",
        [cli.add_commands, character_cli.register, _log],
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run(command_line(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
