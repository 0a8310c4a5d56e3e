"""`anima-memory`: the memory service's own entry point."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from anima_core.cli import build_parser, run
from anima_memory import cli


def command_line() -> argparse.ArgumentParser:
    """The command line (tests/deploy parses the manifests' arguments with it)."""
    return build_parser("anima-memory", "Anima's vector memory service.", [cli.add_commands])


def main(argv: Sequence[str] | None = None) -> int:
    return run(command_line(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
