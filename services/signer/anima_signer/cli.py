"""`anima signer ...` (also `anima-signer ...`): serve the signer, make caller tokens.

Tokens are read from the environment (ANIMA_SIGNER_TOKEN), never from the
command line, where other users of the machine could see them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from anima_core.auth import token_digest
from anima_core.config import load_config
from anima_core.files import replace_file
from anima_core.otel import exported_telemetry
from anima_signer.app import start_signer
from anima_signer.config import ENV_PREFIX, SignerConfig
from anima_signer_api.cli import TOKEN_ENV
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: SubParsers) -> None:
    """`signer serve|new-token` under the umbrella command."""
    signer = commands.add_parser("signer", help="run the enclave signer")
    add_commands(signer.add_subparsers(dest="signer_command", required=True, metavar="COMMAND"))


# ---------------------------------------------------------------- anima signer


def add_commands(sub: SubParsers) -> None:
    """`serve` and `new-token` (top-level commands of anima-signer)."""
    serve = sub.add_parser(
        "serve",
        help="serve the signer over attested gRPC",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables, "
        "then these flags.",
    )
    serve.add_argument("--config", type=Path, help="TOML or JSON configuration file")
    serve.add_argument("--listen", help="host:port (port 0 picks a free one)")
    serve.add_argument("--state-dir", type=Path, help="where durable state lives")
    serve.add_argument("--tee", choices=["sim", "dstack"], help="TEE backend (sim is INSECURE)")
    serve.add_argument(
        "--insecure-plaintext",
        action="store_true",
        default=None,
        help="INSECURE: no TLS and no attested channel (development only)",
    )
    serve.add_argument("--anchor-contract", help="AgentAnchor address (0x...) restores read")
    serve.add_argument("--anchor-trusted-block", help="a block hash (0x...) the anchor reads from")
    serve.add_argument("--ready-file", type=Path, help="write {'port': N} here once serving")
    serve.set_defaults(func=_serve)

    token = sub.add_parser("new-token", help="make a caller token and the digest to configure")
    token.add_argument("name", help="caller name, e.g. admin or runtime")
    token.set_defaults(func=_new_token)


def load_signer_config(args: argparse.Namespace) -> SignerConfig:
    overrides = {
        "listen": args.listen,
        "state_dir": args.state_dir,
        "tee": args.tee,
        "insecure_plaintext": args.insecure_plaintext,
        "anchor_contract": getattr(args, "anchor_contract", None),
        "anchor_trusted_block": getattr(args, "anchor_trusted_block", None),
    }
    return load_config(SignerConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)


async def _serve_async(config: SignerConfig, ready_file: Path | None) -> None:
    running = await start_signer(config)
    if ready_file is not None:
        info = {"port": running.port, "tee": running.signer.tee_name}
        replace_file(ready_file, json.dumps(info).encode())
    print(f"signer serving on port {running.port} (tee={running.signer.tee_name})", flush=True)
    try:
        await running.server.run_until_signal()
    finally:
        running.signer.close()


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_signer_config(args)
        with exported_telemetry("anima-signer", os.environ):
            asyncio.run(_serve_async(config, args.ready_file))
    except AnimaError as exc:
        print(f"anima signer: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _new_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    digest = token_digest(token)
    print(f"token ({args.name}; give it to the caller as {TOKEN_ENV}): {token}")
    print(f'digest (configure the signer): {ENV_PREFIX}_CALLERS=\'{{"{args.name}": "{digest}"}}\'')
    return 0
