"""`anima runtime serve` and `anima runtime new-token` (also `anima-runtime ...`).

`anima runtime serve` hosts agents behind the HTTP API (api/http.py) and the
gRPC RuntimeService (api/grpc_servicer.py, on its own listener, TLS with a
published self-signed certificate unless configured otherwise): it binds both
ports first, connects to the signer over attested gRPC (runtime role: logs, lookups,
attestation; with ANIMA_SIGNER_ADMIN_TOKEN also the admin role, to create
agents' keys) and to the memory service (TLS pinned to its certificate),
or to several replicas of it that shard the agents (--memory repeated in shard
order: replica i serves shard i of N; each is checked to say so at startup),
brings back the agents persisted under --data-dir, and serves until SIGTERM
or SIGINT; then it stops the HTTP and gRPC servers, the agents and the logs.
gRPC health says NOT_SERVING until the agents are back.

Configuration: RuntimeConfig's defaults, then --config, then ANIMA_RUNTIME_*
variables, then these flags. Tokens come from the environment only, never
the command line: ANIMA_SIGNER_TOKEN, ANIMA_SIGNER_ADMIN_TOKEN (optional),
ANIMA_MEMORY_TOKEN; the API's own tokens are configured as digests.

Exit codes: 0 done; 1 bad input (configuration, character file); 2 the
environment (a missing token, an unreachable or refusing service, a busy port).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx

from anima_core import event_loop
from anima_core.auth import token_digest
from anima_core.config import ConfigError, load_config
from anima_core.files import replace_file
from anima_core.otel import exported_telemetry
from anima_core.shutdown import stop_on_signals
from anima_memory_api.client import MemoryClient
from anima_memory_api.endpoint import DEFAULT_ADDRESS as DEFAULT_MEMORY
from anima_memory_api.endpoint import published_certificate_path
from anima_memory_api.errors import MemoryServiceError
from anima_memory_api.router import ShardedMemoryClient, check_replicas
from anima_memory_api.shards import Shard
from anima_memory_api.types import MemoryFilter
from anima_runtime.api.http import create_runtime_app
from anima_runtime.chain_wiring import (
    ChainSetupProblem,
    add_chain_arguments,
    chain_plugins,
    chain_token,
)
from anima_runtime.config import ENV_PREFIX, RuntimeConfig, listen_address
from anima_runtime.grpc_serve import RuntimeGrpc, start_grpc
from anima_runtime.handler import RuntimeHandler
from anima_runtime.http_serve import base_url, bind, serve_app
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import signer_attestation
from anima_runtime.manager import AgentManager
from anima_runtime.metrics import observe_logs
from anima_runtime.telemetry import instrument_http
from anima_runtime.x402_sell import AgentSale, add_sell_arguments, sell_config, signer_wallet_of
from anima_signer_api.cli import add_signer_arguments, measurement_policy
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import SignerError, UnknownAgent
from anima_verify.attestation import MeasurementPolicy
from anima_verify.errors import AnimaError, ErrorKind

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

T = TypeVar("T")

COMMAND = "anima runtime serve"
SIGNER_TOKEN_ENV = "ANIMA_SIGNER_TOKEN"  # noqa: S105 (variable names, not tokens)
SIGNER_ADMIN_TOKEN_ENV = "ANIMA_SIGNER_ADMIN_TOKEN"  # noqa: S105
MEMORY_TOKEN_ENV = "ANIMA_MEMORY_TOKEN"  # noqa: S105
# An agent id no real agent has: at startup the runtime looks it up in the signer and
# counts its memories (a variant of it in each memory replica's shard), proving that
# the services answer and accept its tokens.
_PROBE_AGENT = "anima-runtime-probe"

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_ENVIRONMENT = 2


class EnvironmentProblem(Exception):
    """Something outside the command's input is missing or refuses (exit code 2)."""


def register(commands: SubParsers) -> None:
    """Add `runtime` (serve, new-token) to the `anima` sub-parsers."""
    runtime = commands.add_parser("runtime", help="run the agent runtime and its HTTP API")
    add_commands(runtime.add_subparsers(dest="runtime_command", required=True, metavar="COMMAND"))


def add_commands(sub: SubParsers) -> None:
    """serve, new-token (top-level commands of anima-runtime)."""
    _register_serve(sub)
    token = sub.add_parser("new-token", help="make an API token and the digest to configure")
    token.set_defaults(func=_new_token)


def _register_serve(sub: SubParsers) -> None:
    serve = sub.add_parser(
        "serve",
        help="host agents behind the HTTP API (agents, chat, memories, logs)",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables, "
        f"then these flags. Tokens: {SIGNER_TOKEN_ENV} (runtime role), "
        f"{SIGNER_ADMIN_TOKEN_ENV} (optional: admin role, to create agents), "
        f"{MEMORY_TOKEN_ENV}.",
    )
    serve.add_argument("--config", type=Path, help="TOML or JSON file holding a RuntimeConfig")
    serve.add_argument("--data-dir", type=Path, help="where agents and their logs live")
    serve.add_argument("--listen", help="HTTP host:port (port 0 picks a free one)")
    serve.add_argument("--grpc-listen", help="gRPC host:port (port 0 picks a free one)")
    add_signer_arguments(serve)
    add_chain_arguments(serve)
    add_sell_arguments(serve)
    serve.add_argument(
        "--memory",
        action="append",
        metavar="HOST:PORT",
        help=f"memory service host:port (default {DEFAULT_MEMORY}); repeat for replicas "
        "that shard the agents, in shard order (replica i serves shard i of N)",
    )
    trust = serve.add_mutually_exclusive_group(required=True)
    trust.add_argument(
        "--memory-cert",
        action="append",
        type=Path,
        help="the memory service's certificate (PEM); repeat: one per --memory, in order "
        "(or one CA certificate for all)",
    )
    trust.add_argument(
        "--memory-data-dir",
        action="append",
        type=Path,
        help="the memory service's data directory: pin the certificate it publishes there; "
        "repeat: one per --memory, in order",
    )
    trust.add_argument(
        "--memory-insecure-plaintext",
        action="store_true",
        help="INSECURE: talk to the memory service without TLS (development only)",
    )
    serve.add_argument(
        "--ready-file",
        type=Path,
        help="write {'url', 'port', 'grpc_address', 'grpc_port', 'grpc_certificate'} here "
        "once serving",
    )
    serve.set_defaults(func=serve_command)


def _new_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    print(f"token (give it to API callers as a bearer token): {token}")
    digests = json.dumps([token_digest(token)])
    print(f"digest (configure the runtime): {ENV_PREFIX}_API_TOKEN_SHA256S='{digests}'")
    return EXIT_OK


# ---------------------------------------------------------------- serve


def load_runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    overrides = {
        "data_dir": args.data_dir,
        "listen": args.listen,
        "grpc_listen": args.grpc_listen,
    }
    return load_config(RuntimeConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)


def serve_command(args: argparse.Namespace) -> int:
    """Handler of `anima runtime serve`; returns the exit code."""
    try:
        config = load_runtime_config(args)
        config.check_startable()
        with exported_telemetry("anima-runtime", os.environ):
            return event_loop.run(_serve(args, config))
    except (EnvironmentProblem, ChainSetupProblem) as exc:
        return _fail(str(exc), EXIT_ENVIRONMENT)
    except (SignerError, MemoryServiceError) as exc:  # a service the runtime needs refused
        return _fail(exc.message, EXIT_ENVIRONMENT)
    except AnimaError as exc:
        code = EXIT_ENVIRONMENT if exc.kind == ErrorKind.UNAVAILABLE else EXIT_BAD_INPUT
        return _fail(exc.message, code)
    except OSError as exc:
        return _fail(str(exc), EXIT_ENVIRONMENT)


def _fail(message: str, code: int) -> int:
    print(f"{COMMAND}: {message}", file=sys.stderr)
    return code


def required_token(name: str) -> str:
    """A caller token from the environment (never the command line)."""
    token = os.environ.get(name, "")
    if not token:
        raise EnvironmentProblem(f"set {name} to a caller token")
    return token


async def _serve(args: argparse.Namespace, config: RuntimeConfig) -> int:
    signer_token = required_token(SIGNER_TOKEN_ENV)
    admin_token = os.environ.get(SIGNER_ADMIN_TOKEN_ENV) or None
    memory_token = required_token(MEMORY_TOKEN_ENV)
    chain_token(args)  # its Secret too, before connecting anywhere
    selling = sell_config(args)
    with stop_on_signals() as stopping:
        host, port = config.listen_address
        with bind(host, port) as sock:
            async with AsyncExitStack() as stack:
                api = await _grpc(config)
                stack.push_async_callback(api.stop)
                policy = measurement_policy(args)
                signer = await stack.enter_async_context(
                    _signer(args.signer, signer_token, policy, SIGNER_TOKEN_ENV)
                )
                admin = None
                if admin_token is not None:
                    admin = await stack.enter_async_context(
                        _signer(args.signer, admin_token, policy, SIGNER_ADMIN_TOKEN_ENV)
                    )
                memory = await stack.enter_async_context(memory_replicas(args, memory_token))
                registry = LogRegistry.from_config(config.log, signer)
                stack.push_async_callback(registry.close)
                observe_logs(registry)
                plugins = await stack.enter_async_context(chain_plugins(args, signer))
                manager = await AgentManager.open(
                    config=config,
                    memory=memory,
                    logs=registry,
                    signer=signer,
                    admin=admin,
                    plugins=plugins,
                )
                stack.push_async_callback(manager.close)
                handler = RuntimeHandler.of(manager, config)
                sale = None
                if selling is not None:
                    facilitator = httpx.AsyncClient(base_url=selling.facilitator_url, timeout=30)
                    stack.push_async_callback(facilitator.aclose)
                    sale = AgentSale(
                        selling.prices, signer_wallet_of(signer.get_agent), selling.domain,
                        facilitator,
                    )  # fmt: skip
                app = create_runtime_app(
                    handler, config, attestation=signer_attestation(signer), x402_sale=sale
                )
                instrument_http(app)
                try:
                    # Health turns SERVING only once the HTTP API serves too.
                    await api.attach(handler, ready=False)
                    if not stopping.is_set():
                        await serve_app(
                            app,
                            sock,
                            stopping,
                            when_serving=api.set_ready,
                            on_ready=lambda: _announce(sock, api, config, manager, args.ready_file),
                        )
                finally:
                    await api.stop()  # before the agents and logs close
    return EXIT_OK


async def _grpc(config: RuntimeConfig) -> RuntimeGrpc:
    """The gRPC listener, bound and NOT_SERVING; a port or TLS file it cannot use is an
    environment problem."""
    try:
        return await start_grpc(config)
    except (OSError, RuntimeError, ConfigError) as exc:
        raise EnvironmentProblem(
            f"cannot serve gRPC on {config.grpc_listen}: {_reason(exc)}"
        ) from None


@asynccontextmanager
async def _signer(
    address: str, token: str, policy: MeasurementPolicy, token_env: str
) -> AsyncIterator[SignerClient]:
    """An attested client; its token is proven at once (GetAgent of an agent that need
    not exist answers NOT_FOUND to a known caller, UNAUTHENTICATED to anyone else)."""
    try:
        client = await SignerClient.connect_attested(address=address, token=token, policy=policy)
    except (OSError, SignerError) as exc:
        raise EnvironmentProblem(f"cannot reach the signer at {address}: {_reason(exc)}") from None
    try:
        try:
            await client.get_agent(_PROBE_AGENT)
        except UnknownAgent:
            pass  # the token is known
        except SignerError as exc:
            raise EnvironmentProblem(
                f"the signer at {address} refuses {token_env}: {exc.message}"
            ) from None
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def memory_replicas(
    args: argparse.Namespace, token: str
) -> AsyncIterator[ShardedMemoryClient]:
    """The memory replicas of --memory, routed by agent. Each must say it serves the
    shard its place in the list says (ReplicaMismatch otherwise: a misordered list
    would send agents to replicas that refuse them), and must accept the token for
    data calls (a count of a probe agent in its shard)."""
    addresses: list[str] = args.memory or [DEFAULT_MEMORY]
    certificates = _memory_certificates(args, len(addresses))
    router = ShardedMemoryClient(
        [
            MemoryClient.connect(
                address,
                token,
                certificate_pem=certificate,
                insecure_plaintext=args.memory_insecure_plaintext,
            )
            for address, certificate in zip(addresses, certificates, strict=True)
        ]
    )
    try:
        infos = [await _answer(replica, replica.describe()) for replica in router.replicas]
        check_replicas(infos, addresses)
        for replica, info in zip(router.replicas, infos, strict=True):
            await _answer(replica, replica.count(MemoryFilter(agent_id=_probe_agent(info.shard))))
        yield router
    finally:
        await router.close()


def _memory_certificates(args: argparse.Namespace, replicas: int) -> list[bytes | None]:
    """The certificate to pin for each replica (None each with plaintext)."""
    if args.memory_insecure_plaintext:
        return [None] * replicas
    if args.memory_cert is not None:
        paths: list[Path] = args.memory_cert
        if len(paths) == 1:  # one CA (or one certificate) for every replica
            paths = paths * replicas
        flag = "--memory-cert"
    else:
        paths = [published_certificate_path(d) for d in args.memory_data_dir]
        flag = "--memory-data-dir"
    if len(paths) != replicas:
        raise ConfigError(
            f"{len(paths)} {flag} for {replicas} --memory replicas: give one per replica, in order"
        )
    certificates: list[bytes | None] = []
    for path in paths:
        try:
            certificates.append(path.read_bytes())
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot read the memory service's certificate {path}: {exc.strerror}"
            ) from None
    return certificates


async def _answer(replica: MemoryClient, call: Awaitable[T]) -> T:
    try:
        return await call
    except MemoryServiceError as exc:
        raise EnvironmentProblem(f"memory service at {replica.address}: {exc.message}") from None


def _probe_agent(shard: Shard) -> str:
    """An agent id no real agent has, in `shard` (so its replica answers for it)."""
    candidate, n = _PROBE_AGENT, 0
    while not shard.owns(candidate):
        n += 1
        candidate = f"{_PROBE_AGENT}-{n}"
    return candidate


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, AnimaError) else str(exc)


def _announce(
    sock: socket.socket,
    api: RuntimeGrpc,
    config: RuntimeConfig,
    manager: AgentManager,
    ready_file: Path | None,
) -> None:
    url, port = base_url(sock)
    host = listen_address(config.grpc_listen)[0]
    grpc_address = f"{f'[{host}]' if ':' in host else host}:{api.port}"
    agents = manager.list()
    running = sum(1 for a in agents if a.running)
    security = "plaintext" if api.certificate_pem is None else "TLS"
    print(
        f"runtime API serving on {url}, gRPC on {grpc_address} ({security}) "
        f"({len(agents)} agents, {running} running)",
        flush=True,
    )
    if ready_file is not None:
        certificate = None
        if api.certificate_pem is not None:
            certificate = str((config.tls_cert_file or config.certificate_path).resolve())
        ready = {
            "url": url,
            "port": port,
            "grpc_address": grpc_address,
            "grpc_port": api.port,
            "grpc_certificate": certificate,
        }
        replace_file(ready_file, json.dumps(ready).encode())


__all__ = ["EXIT_BAD_INPUT", "EXIT_ENVIRONMENT", "EXIT_OK", "register", "serve_command"]
