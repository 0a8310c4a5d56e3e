"""`anima-signer`: the enclave's own entry point; it loads the signer's code and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from anima_core.cli import build_parser, run
from anima_signer import cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("anima-signer", "Anima's enclave signer.", [cli.add_commands])
    return run(parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
