"""`anima chain serve` (and the read commands of anima_chain_api.cli under `anima chain`).

Tokens come from the environment: ANIMA_SIGNER_TOKEN (the signer's `runtime` role:
this service signs through it), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from anima_chain.config import ENV_PREFIX, BeaconSourceConfig, ChainConfig
from anima_chain_api.cli import add_client_commands
from anima_core.config import ConfigError, load_config
from anima_core.files import replace_file
from anima_core.otel import exported_telemetry
from anima_signer_api.cli import add_signer_arguments, measurement_policy, signer_token
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: SubParsers) -> None:
    """`chain ...` under the umbrella command."""
    chain = commands.add_parser("chain", help="the verifying chain client")
    add_commands(chain.add_subparsers(dest="chain_command", required=True, metavar="COMMAND"))


def add_commands(sub: SubParsers) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve verified chain reads and transactions over gRPC",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables, "
        "then these flags. The signer token: ANIMA_SIGNER_TOKEN.",
    )
    serve.add_argument("--config", type=Path, help="TOML or JSON configuration file")
    serve.add_argument("--listen", help="host:port (port 0 picks a free one)")
    serve.add_argument(
        "--data-dir", type=Path, help="where sent transactions and the certificate live"
    )
    serve.add_argument("--rpc-url", help="the (untrusted) Ethereum JSON-RPC node")
    serve.add_argument("--chain-id", type=int, help="the chain to follow")
    serve.add_argument("--checkpoint", help="the trusted block hash (0x + 64 hex digits)")
    serve.add_argument(
        "--beacon-url",
        help="a beacon node's REST API: trusted heads come from its verified light-client"
        " data instead of --checkpoint (networks with a beacon chain)",
    )
    serve.add_argument(
        "--beacon-checkpoint",
        help="the weak-subjectivity beacon block root the light client starts from",
    )
    serve.add_argument(
        "--insecure-plaintext",
        action="store_true",
        default=None,
        help="INSECURE: no TLS (development only)",
    )
    serve.add_argument("--ready-file", type=Path, help="write {'port': N, ...} here once ready")
    add_signer_arguments(serve)
    serve.set_defaults(func=_serve)
    add_client_commands(sub)


def load_chain_config(args: argparse.Namespace) -> ChainConfig:
    overrides: dict[str, object] = {
        "listen": args.listen,
        "data_dir": args.data_dir,
        "insecure_plaintext": args.insecure_plaintext,
        "chain_id": args.chain_id,
        "checkpoint_hash": args.checkpoint,
    }
    if args.rpc_url is not None:
        overrides["rpc"] = {"url": args.rpc_url}
    config = load_config(ChainConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)
    beacon = {"url": args.beacon_url, "checkpoint": args.beacon_checkpoint}
    if any(value is not None for value in beacon.values()):
        # Flags override single keys of the file's [beacon] table, not the whole table.
        merged = config.beacon.model_dump() | {k: v for k, v in beacon.items() if v is not None}
        try:
            config = config.model_copy(update={"beacon": BeaconSourceConfig.model_validate(merged)})
        except ValidationError as exc:
            raise ConfigError(f"--beacon-url/--beacon-checkpoint: {exc}") from None
    return config


async def _serve_async(args: argparse.Namespace, config: ChainConfig) -> None:
    from anima_chain.app import serve_until_signal, start_chain
    from anima_signer_api.client import SignerClient

    config.check_startable()
    signer = await SignerClient.connect_attested(
        address=args.signer,
        token=signer_token("anima chain serve"),
        policy=measurement_policy(args),
    )
    try:
        running = await start_chain(config, signer=signer)
        head = running.service.headers.head
        if args.ready_file is not None:
            replace_file(
                args.ready_file,
                json.dumps({"port": running.port, "head": head.number}).encode(),
            )
        print(
            f"chain client serving on port {running.port}: chain {config.chain_id},"
            f" {_trust(config)}, verified head {head.number}",
            flush=True,
        )
        await serve_until_signal(running)
    finally:
        await signer.close()


def _trust(config: ChainConfig) -> str:
    if config.beacon.enabled:
        return f"heads from the beacon light client at {config.beacon.url}"
    return f"checkpoint {config.checkpoint_hash}"


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_chain_config(args)
        with exported_telemetry("anima-chain", os.environ):
            asyncio.run(_serve_async(args, config))
    except (AnimaError, OSError) as exc:
        print(f"anima chain: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    return 0
