"""`anima memory ...`: run the memory service; export and import an agent's memory.

Tokens are read from the environment (ANIMA_MEMORY_TOKEN), never from the
command line, where other users of the machine could see them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from anima.memory.v1 import memory_pb2 as pb
from anima_core import event_loop
from anima_core.auth import token_digest
from anima_core.config import load_config
from anima_core.files import replace_file
from anima_core.otel import exported_telemetry
from anima_memory.config import ENV_PREFIX, MemoryConfig
from anima_memory_api.endpoint import DEFAULT_ADDRESS
from anima_memory_api.shards import Shard
from anima_verify.errors import AnimaError

if TYPE_CHECKING:
    from anima_memory_api.client import MemoryClient

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

TOKEN_ENV = "ANIMA_MEMORY_TOKEN"  # noqa: S105 (a variable name, not a token)
MAX_CHUNK_BYTES = 64 * 1024 * 1024


def register(commands: SubParsers) -> None:
    """`memory ...` under the umbrella command."""
    memory = commands.add_parser("memory", help="run the vector memory service")
    add_commands(memory.add_subparsers(dest="memory_command", required=True, metavar="COMMAND"))


def add_commands(sub: SubParsers) -> None:
    """serve, new-token, export, import (top-level commands of anima-memory)."""

    serve = sub.add_parser(
        "serve",
        help="serve agents' memories over gRPC",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables, "
        "then these flags.",
    )
    serve.add_argument("--config", type=Path, help="TOML or JSON configuration file")
    serve.add_argument("--listen", help="host:port (port 0 picks a free one)")
    serve.add_argument("--data-dir", type=Path, help="where the store and certificate live")
    serve.add_argument(
        "--insecure-plaintext",
        action="store_true",
        default=None,
        help="INSECURE: no TLS (development only)",
    )
    serve.add_argument(
        "--shard",
        type=_shard,
        metavar="INDEX/COUNT",
        help="serve only the agents of this shard, e.g. 1/2 (replicas shard agents between them)",
    )
    serve.add_argument("--ready-file", type=Path, help="write {'port': N} here once ready")
    serve.set_defaults(func=_serve)

    token = sub.add_parser("new-token", help="make a caller token and the digest to configure")
    token.add_argument("name", help="caller role: runtime, dasync or admin")
    token.set_defaults(func=_new_token)

    export = sub.add_parser("export", help="write an agent's whole memory to a file")
    export.add_argument("agent_id")
    export.add_argument("file", type=Path, help="output (length-prefixed ExportChunk messages)")
    _client_arguments(export)
    export.set_defaults(func=_export)

    load = sub.add_parser("import", help="load an export file into an agent with no memories")
    load.add_argument("file", type=Path)
    _client_arguments(load)
    load.set_defaults(func=_import)


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", default=DEFAULT_ADDRESS, help="memory service host:port")
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--certificate", type=Path, help="the service's TLS certificate (PEM)")
    trust.add_argument(
        "--insecure-plaintext", action="store_true", help="INSECURE: connect without TLS"
    )


# ---------------------------------------------------------------- serve


def load_memory_config(args: argparse.Namespace) -> MemoryConfig:
    overrides = {
        "listen": args.listen,
        "data_dir": args.data_dir,
        "insecure_plaintext": args.insecure_plaintext,
        "shard": args.shard,
    }
    return load_config(MemoryConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)


def _shard(text: str) -> dict[str, int]:
    try:
        shard = Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return {"index": shard.index, "count": shard.count}


async def _serve_async(config: MemoryConfig, ready_file: Path | None) -> None:
    from anima_memory.app import serve_until_signal, start_memory

    running = await start_memory(config)
    if ready_file is not None:
        replace_file(ready_file, json.dumps({"port": running.port}).encode())
    store = running.service.store.stats()
    print(
        f"memory serving on port {running.port} ({config.store} store, {store.points} memories, "
        f"model {running.service.embedder.model_name}, {running.service.shard})",
        flush=True,
    )
    await serve_until_signal(running)


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_memory_config(args)
        with exported_telemetry("anima-memory", os.environ):
            event_loop.run(_serve_async(config, args.ready_file))
    except AnimaError as exc:
        print(f"anima memory: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _new_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    digest = token_digest(token)
    print(f"token ({args.name}; give it to the caller as {TOKEN_ENV}): {token}")
    print(f'digest (configure the service): {ENV_PREFIX}_CALLERS=\'{{"{args.name}": "{digest}"}}\'')
    return 0


# ---------------------------------------------------------------- export / import


def _connect(args: argparse.Namespace) -> MemoryClient:
    from anima_memory_api.client import MemoryClient

    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise SystemExit(f"anima memory: set {TOKEN_ENV} to a dasync or admin token")
    certificate = args.certificate.read_bytes() if args.certificate else None
    return MemoryClient.connect(
        args.memory,
        token,
        certificate_pem=certificate,
        insecure_plaintext=args.insecure_plaintext,
    )


def write_chunk(out: BinaryIO, chunk: pb.ExportChunk) -> None:
    data = chunk.SerializeToString(deterministic=True)
    out.write(len(data).to_bytes(4, "big"))
    out.write(data)


async def read_chunks(source: BinaryIO) -> AsyncIterator[pb.ExportChunk]:
    """Chunks from an export file; a torn frame ends the stream (the reader's
    trailer check then reports it as truncated)."""
    while len(prefix := source.read(4)) == 4:
        size = int.from_bytes(prefix, "big")
        if size > MAX_CHUNK_BYTES:
            raise SystemExit(f"anima memory: export chunk of {size} bytes; file is corrupt")
        data = source.read(size)
        if len(data) != size:
            return
        yield pb.ExportChunk.FromString(data)


async def _export_async(args: argparse.Namespace) -> int:
    tmp = args.file.with_name(args.file.name + ".partial")
    count = 0
    async with _connect(args) as client:
        with tmp.open("wb") as out:
            async for chunk in client.export(args.agent_id):
                write_chunk(out, chunk)
                if chunk.WhichOneof("part") == "trailer":
                    count = chunk.trailer.count
            out.flush()
            os.fsync(out.fileno())
    tmp.replace(args.file)
    print(f"exported {count} memories of {args.agent_id} to {args.file}")
    return 0


async def _import_async(args: argparse.Namespace) -> int:
    async with _connect(args) as client:
        with args.file.open("rb") as source:
            imported = await client.import_(read_chunks(source))
    print(f"imported {imported} memories from {args.file}")
    return 0


def _export(args: argparse.Namespace) -> int:
    return _client_command(lambda: _export_async(args))


def _import(args: argparse.Namespace) -> int:
    return _client_command(lambda: _import_async(args))


def _client_command(run: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(run())
    except AnimaError as exc:  # the service's typed errors included (MemoryClient raises them)
        print(f"anima memory: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"anima memory: {exc}", file=sys.stderr)
        return 1
