"""`anima dasync serve` (umbrella command) and `anima-dasync serve` (the service's own
entry point, anima_dasync.main, what its image runs): the DA sync service.

Tokens come from the environment (ANIMA_DASYNC_SIGNER_TOKEN, ANIMA_DASYNC_MEMORY_TOKEN),
never from the command line, where other users of the machine could see them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from anima_core.config import load_config
from anima_core.files import replace_file
from anima_core.otel import exported_telemetry
from anima_dasync.app import start_dasync
from anima_dasync.config import ENV_PREFIX, DaSyncConfig
from anima_dasync.metrics import DaLag
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: SubParsers) -> None:
    """`dasync ...` under the umbrella command."""
    dasync = commands.add_parser("dasync", help="sync agents' sealed life data to DA")
    add_commands(dasync.add_subparsers(dest="dasync_command", required=True, metavar="COMMAND"))


def add_commands(sub: SubParsers) -> None:
    """serve (the top-level command of anima-dasync)."""
    serve = sub.add_parser(
        "serve",
        help="serve DaSyncService and sync the configured agents periodically",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables "
        f"({ENV_PREFIX}_SIGNER_TOKEN, {ENV_PREFIX}_MEMORY_TOKEN, {ENV_PREFIX}_RUNTIME_TOKEN, "
        f"{ENV_PREFIX}_CALLERS), "
        "then these flags.",
    )
    serve.add_argument("--config", type=Path, help="TOML or JSON configuration file")
    serve.add_argument("--listen", help="host:port (port 0 picks a free one)")
    serve.add_argument("--da-dir", type=Path, help="the local-directory DA backend")
    serve.add_argument("--state-dir", type=Path, help="where the TLS certificate is published")
    serve.add_argument("--signer", help="the signer's host:port")
    serve.add_argument("--log-url", help="agents' tiled logs: {log-url}/{agent_id}/")
    serve.add_argument(
        "--memory",
        action="append",
        help="a memory shard's host:port (its change feed); repeat for each shard, in order",
    )
    serve.add_argument(
        "--memory-certificate", type=Path, help="the memory service's certificate (pinned)"
    )
    serve.add_argument(
        "--runtime", help="the runtime's gRPC host:port (its admin ExportAgent: the record)"
    )
    serve.add_argument(
        "--runtime-certificate", type=Path, help="the runtime's gRPC certificate (pinned)"
    )
    serve.add_argument("--interval-s", type=float, help="seconds between sync rounds (0: none)")
    serve.add_argument(
        "--insecure-allow-simulated-signer",
        action="store_true",
        default=None,
        help="INSECURE: trust a simulated-TEE signer (development only)",
    )
    serve.add_argument("--ready-file", type=Path, help="write {'port': N} here once serving")
    serve.set_defaults(func=_serve)


def load_dasync_config(args: argparse.Namespace) -> DaSyncConfig:
    overrides = {
        "listen": args.listen,
        "da_dir": args.da_dir,
        "state_dir": args.state_dir,
        "signer": args.signer,
        "log_url": args.log_url,
        "memory": tuple(args.memory) if args.memory else None,
        "memory_certificate": args.memory_certificate,
        "runtime": args.runtime,
        "runtime_certificate": args.runtime_certificate,
        "interval_s": args.interval_s,
        "insecure_allow_simulated_signer": args.insecure_allow_simulated_signer,
    }
    return load_config(DaSyncConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_dasync_config(args)
        with exported_telemetry("anima-dasync", os.environ):
            asyncio.run(_serve_async(config, args.ready_file))
    except AnimaError as exc:
        print(f"anima dasync: {exc.message}", file=sys.stderr)
        return 1
    return 0


async def _serve_async(config: DaSyncConfig, ready_file: Path | None) -> None:
    lag = DaLag()
    lag.register()
    running = await start_dasync(config, lag=lag)
    if ready_file is not None:
        info = {"port": running.port, "certificate": str(config.certificate_path)}
        replace_file(ready_file, json.dumps(info).encode())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await running.stop()
