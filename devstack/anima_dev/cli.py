"""`anima`: the umbrella command of the dev stack. Each package registers its own subcommands;
every service also has its own entry point (anima-signer, anima-memory, anima-runtime,
anima-verify) that loads only its own code."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from anima_chain import cli as chain_cli
from anima_core.cli import build_parser as build_command
from anima_core.cli import run
from anima_dasync import cli as dasync_cli
from anima_dev import chat, demo, migrate_cli, policy_cli, recover_cli
from anima_memory import cli as memory_cli
from anima_runtime import cli as runtime_cli
from anima_runtime.character import cli as character_cli
from anima_runtime.log import cli as log_cli
from anima_signer import cli as signer_cli
from anima_signer_api import cli as agent_cli
from anima_verify.cli import attest, lightclient, log
from anima_witness import cli as witness_cli

if TYPE_CHECKING:
    from anima_core.cli import SubParsers


def _log(commands: SubParsers) -> None:
    log_cli.register_serve(log.register(commands))


def _agent(commands: SubParsers) -> None:
    agent = agent_cli.register(commands)
    recover_cli.register(agent)
    migrate_cli.register(agent)


def build_parser() -> argparse.ArgumentParser:
    return build_command(
        "anima",
        "Keep an autonomous agent alive and honest.",
        [
            attest.register,
            lightclient.register,
            signer_cli.register,
            witness_cli.register,
            _agent,
            policy_cli.register,
            memory_cli.register,
            character_cli.register,
            demo.register,
            _log,
            runtime_cli.register,
            chat.register,
            chain_cli.register,
            dasync_cli.register,
        ],
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
