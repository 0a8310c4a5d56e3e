"""`anima-dasync`: the DA sync service's own entry point (what its image runs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from anima_core.cli import build_parser, run
from anima_dasync import cli


def command_line() -> argparse.ArgumentParser:
    """The command line (tests/deploy parses the manifests' arguments with it)."""
    return build_parser(
        "anima-dasync", "Anima's DA sync: agents' sealed life data to DA.", [cli.add_commands]
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run(command_line(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
