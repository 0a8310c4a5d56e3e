"""`anima witness ...` (also `anima-witness ...`): serve a witness, show its key,
trust a log, list the evidence it kept."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from anima_core.config import load_config
from anima_core.files import replace_file
from anima_core.shutdown import stop_on_signals
from anima_verify.errors import AnimaError
from anima_witness.app import bind, open_witness, serve
from anima_witness.config import ENV_PREFIX, WitnessConfig

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: SubParsers) -> None:
    """`witness serve|key|add-log|evidence` under the umbrella command."""
    witness = commands.add_parser("witness", help="run a checkpoint witness (C2SP tlog-witness)")
    add_commands(witness.add_subparsers(dest="witness_command", required=True, metavar="COMMAND"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML or JSON configuration file")
    parser.add_argument("--state-dir", type=Path, help="where the key and state live")
    parser.add_argument("--name", help="the witness's key name")


def add_commands(sub: SubParsers) -> None:
    serve_cmd = sub.add_parser(
        "serve",
        help="serve the witness over HTTP",
        description=f"Configuration: defaults, then --config, then {ENV_PREFIX}_* variables, "
        "then these flags.",
    )
    _common(serve_cmd)
    serve_cmd.add_argument("--listen", help="host:port (port 0 picks a free one)")
    serve_cmd.add_argument(
        "--ready-file", type=Path, help="write {'port': N, 'verifier_key': K} once serving"
    )
    serve_cmd.set_defaults(func=_serve)

    key = sub.add_parser("key", help="print the witness's verifier key (made if missing)")
    _common(key)
    key.set_defaults(func=_key)

    add_log = sub.add_parser("add-log", help="trust a log's checkpoint key")
    _common(add_log)
    add_log.add_argument("verifier_key", help="the log's note verifier key")
    add_log.set_defaults(func=_add_log)

    evidence = sub.add_parser("evidence", help="print the refused log-signed checkpoints (JSON)")
    _common(evidence)
    evidence.add_argument("--origin", help="only this log")
    evidence.set_defaults(func=_evidence)


def load_witness_config(args: argparse.Namespace) -> WitnessConfig:
    overrides = {
        "state_dir": args.state_dir,
        "name": args.name,
        "listen": getattr(args, "listen", None),
    }
    return load_config(WitnessConfig, env_prefix=ENV_PREFIX, file=args.config, overrides=overrides)


def _fail(exc: AnimaError) -> int:
    print(f"anima witness: {exc.message}", file=sys.stderr)
    return 1


async def _serve_async(config: WitnessConfig, ready_file: Path | None) -> None:
    opened = open_witness(config)
    try:
        with bind(config.listen) as sock, stop_on_signals() as stopping:
            port = sock.getsockname()[1]

            def ready() -> None:
                key = opened.witness.verifier_key
                if ready_file is not None:
                    info = {"port": port, "verifier_key": key}
                    replace_file(ready_file, json.dumps(info).encode())
                print(f"witness {key} serving on port {port}", flush=True)

            await serve(opened, config, sock, stopping, on_ready=ready)
    finally:
        opened.close()


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_witness_config(args)
        asyncio.run(_serve_async(config, args.ready_file))
    except AnimaError as exc:
        return _fail(exc)
    except OSError as exc:
        print(f"anima witness: {exc}", file=sys.stderr)
        return 1
    return 0


def _key(args: argparse.Namespace) -> int:
    try:
        opened = open_witness(load_witness_config(args), serving=False)
    except AnimaError as exc:
        return _fail(exc)
    print(opened.witness.verifier_key)
    opened.close()
    return 0


def _add_log(args: argparse.Namespace) -> int:
    try:
        opened = open_witness(load_witness_config(args), serving=False)
    except AnimaError as exc:
        return _fail(exc)
    try:
        added = opened.store.add_log(args.verifier_key)
    except AnimaError as exc:
        return _fail(exc)
    finally:
        opened.close()
    print("added" if added else "already known")
    return 0


def _evidence(args: argparse.Namespace) -> int:
    try:
        opened = open_witness(load_witness_config(args), serving=False)
    except AnimaError as exc:
        return _fail(exc)
    try:
        rows = opened.store.evidence(args.origin)
    finally:
        opened.close()
    for row in rows:
        print(
            json.dumps(
                {
                    "origin": row.origin,
                    "received_at": row.received_at,
                    "kind": row.kind,
                    "detail": row.detail,
                    "request": row.request.decode("utf-8", "replace"),
                    "latest": None if row.latest_note is None else row.latest_note.decode(),
                }
            )
        )
    return 0
