"""`anima-chain`: the chain client's own entry point."""

from __future__ import annotations

from collections.abc import Sequence

from anima_chain import cli
from anima_core.cli import build_parser, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("anima-chain", "Anima's verifying chain client.", [cli.add_commands])
    return run(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
