"""`anima-memory`: the memory service's own entry point."""

from __future__ import annotations

from collections.abc import Sequence

from anima_core.cli import build_parser, run
from anima_memory import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("anima-memory", "Anima's vector memory service.", [cli.add_commands])
    return run(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
