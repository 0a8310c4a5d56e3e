"""`anima-chain`: the chain client's own entry point."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from anima_chain import cli
from anima_core.cli import build_parser, run


def command_line() -> argparse.ArgumentParser:
    """The command line (tests/deploy parses the manifests' arguments with it)."""
    return build_parser("anima-chain", "Anima's verifying chain client.", [cli.add_commands])


def main(argv: Sequence[str] | None = None) -> int:
    return run(command_line(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
