"""`anima log serve`: this host's agent logs over the HTTP query API.

Connects to the signer over attested gRPC (the enclave sequences every log and
attests its key), opens the logs under --dir, collects the enclave's tail in
the background (its signature and policy-decision entries) and serves
`create_log_app` with uvicorn until SIGTERM or SIGINT; then it stops the HTTP
server and closes every log before exiting.

Configuration: LogConfig's defaults, then --config, then ANIMA_LOG_* variables
(e.g. ANIMA_LOG_API__REDACTION_TOKEN_SHA256), then these flags. The signer's
token comes from ANIMA_SIGNER_TOKEN; the API's read and redaction tokens are
configured as digests. No token is ever taken from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from anima_core.config import ConfigError, load_config
from anima_core.files import replace_file
from anima_core.shutdown import stop_on_signals
from anima_runtime.config import listen_address
from anima_runtime.http_serve import base_url, bind, serve_app
from anima_runtime.log.config import ENV_PREFIX, LogConfig
from anima_runtime.log.http import create_log_app
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import signer_attestation
from anima_signer_api.cli import (
    add_signer_arguments,
    connect_signer,
    measurement_policy,
    signer_token,
)
from anima_signer_api.errors import SignerError
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

COMMAND = "anima log serve"
DEFAULT_LISTEN = "127.0.0.1:8700"


def register_serve(log_commands: SubParsers) -> None:
    """Add `serve` to the `anima log` sub-parsers (anima_verify.cli.log.register's result)."""
    serve = log_commands.add_parser(
        "serve",
        help="serve this host's agent logs over HTTP (tlog-tiles, entries, proofs, attestation)",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables, "
        "then these flags. The signer's token is read from ANIMA_SIGNER_TOKEN.",
    )
    add_signer_arguments(serve)
    serve.add_argument("--config", type=Path, help="TOML or JSON file holding a LogConfig")
    serve.add_argument(
        "--dir", type=Path, help=f"root of the agent logs (default: {LogConfig().root})"
    )
    serve.add_argument(
        "--agent",
        action="append",
        default=[],
        dest="agents",
        metavar="AGENT_ID",
        help="serve this agent's log, created if this host has none (repeatable; "
        "default: every log under --dir)",
    )
    serve.add_argument(
        "--listen",
        type=listen_address,
        default=DEFAULT_LISTEN,
        help=f"host:port (default {DEFAULT_LISTEN}; port 0 picks a free one)",
    )
    serve.add_argument(
        "--ready-file", type=Path, help="write {'url', 'port', 'logs'} here once serving"
    )
    serve.set_defaults(func=serve_command)


def load_log_config(args: argparse.Namespace) -> LogConfig:
    return load_config(
        LogConfig, env_prefix=ENV_PREFIX, file=args.config, overrides={"root": args.dir}
    )


def serve_command(args: argparse.Namespace) -> int:
    """Handler of `anima log serve`; returns the exit code."""
    signer_token(COMMAND)  # refuse before anything else when there is none
    try:
        config = load_log_config(args)
        return asyncio.run(_serve(args, config))
    except SignerError as exc:
        print(f"{COMMAND}: signer: {exc.message}", file=sys.stderr)
        return 1
    except AnimaError as exc:
        print(f"{COMMAND}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 2


async def _serve(args: argparse.Namespace, config: LogConfig) -> int:
    with stop_on_signals() as stopping:
        host, port = args.listen
        with bind(host, port) as sock:
            policy = measurement_policy(args)
            try:
                client = await connect_signer(args, policy=policy, command=COMMAND)
            except OSError as exc:
                raise OSError(f"cannot reach signer at {args.signer}: {exc}") from exc
            async with client:
                registry = LogRegistry.from_config(config, client)
                try:
                    agents = await _open_logs(registry, args.agents)
                    app = create_log_app(
                        registry, config=config.api, attestation=signer_attestation(client)
                    )
                    if not stopping.is_set():
                        await serve_app(
                            app,
                            sock,
                            stopping,
                            on_ready=lambda: _announce(sock, agents, args.ready_file),
                        )
                finally:
                    await registry.close()
    return 0


async def _open_logs(registry: LogRegistry, agents: list[str]) -> list[str]:
    if not agents:
        found = await registry.open_existing()
        if not found:
            raise ConfigError(f"no agent logs under {registry.root}: name agents with --agent")
        return found
    for agent_id in dict.fromkeys(agents):
        await registry.open(agent_id)
    return registry.agent_ids()


def _announce(sock: socket.socket, agents: list[str], ready_file: Path | None) -> None:
    url, port = base_url(sock)
    logs = {agent_id: f"{url}/v1/logs/{agent_id}" for agent_id in agents}
    prefixes = " ".join(f"{agent_id}={prefix}" for agent_id, prefix in logs.items())
    print(f"log API serving on {url}; tlog-tiles: {prefixes}", flush=True)
    if ready_file is not None:
        replace_file(ready_file, json.dumps({"url": url, "port": port, "logs": logs}).encode())
