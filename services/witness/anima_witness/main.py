"""`anima-witness`: the witness's own entry point, for a third party that runs only it."""

from __future__ import annotations

from collections.abc import Sequence

from anima_core.cli import build_parser, run
from anima_witness import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("anima-witness", "An Anima checkpoint witness.", [cli.add_commands])
    return run(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
