"""`anima dasync serve`: the DA sync service (its own image and `anima-dasync` entry point
come with the deploy work; the umbrella command runs it in the dev stack)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from anima_core.config import load_config
from anima_core.files import replace_file
from anima_dasync.app import start_dasync
from anima_dasync.config import ENV_PREFIX, DaSyncConfig

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: SubParsers) -> None:
    dasync = commands.add_parser("dasync", help="sync agents' sealed life data to DA")
    sub = dasync.add_subparsers(dest="dasync_command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="serve DaSyncService and sync the configured agents periodically",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables "
        f"({ENV_PREFIX}_SIGNER_TOKEN, {ENV_PREFIX}_CALLERS), then these flags.",
    )
    serve.add_argument("--config", type=Path, help="TOML or JSON configuration file")
    serve.add_argument("--listen", help="host:port (port 0 picks a free one)")
    serve.add_argument("--da-dir", type=Path, help="the local-directory DA backend")
    serve.add_argument("--state-dir", type=Path, help="where the TLS certificate is published")
    serve.add_argument("--signer", help="the signer's host:port")
    serve.add_argument("--log-url", help="agents' tiled logs: {log-url}/{agent_id}/")
    serve.add_argument(
        "--insecure-allow-simulated-signer",
        action="store_true",
        default=None,
        help="INSECURE: trust a simulated-TEE signer (development only)",
    )
    serve.add_argument("--ready-file", type=Path, help="write {'port': N} here once serving")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    overrides = {
        "listen": args.listen,
        "da_dir": args.da_dir,
        "state_dir": args.state_dir,
        "signer": args.signer,
        "log_url": args.log_url,
        "insecure_allow_simulated_signer": args.insecure_allow_simulated_signer,
    }
    config = load_config(DaSyncConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)
    asyncio.run(_serve_async(config, args.ready_file))
    return 0


async def _serve_async(config: DaSyncConfig, ready_file: Path | None) -> None:
    running = await start_dasync(config)
    if ready_file is not None:
        info = {"port": running.port, "certificate": str(config.certificate_path)}
        replace_file(ready_file, json.dumps(info).encode())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await running.stop()
